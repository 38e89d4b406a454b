"""A Sparkplug B edge node with one device, driven line by line (run in pysparkplug's venv).

Usage: ``python sparkplug_edge.py HOST PORT GROUP NODE DEVICE``; then commands on standard
input, each answered ``ok …`` on standard output:

- ``connect``: connect (NBIRTH with bdSeq), then register the device (DBIRTH with aliases)
- ``ddata STATE OEE POWER``: a DDATA by alias only, as a real edge node sends changes
- ``skip``: lose one sequence number (the next message shows a gap)
- ``ddeath``: deregister the device (DDEATH)
- ``ndeath``: disconnect cleanly (NDEATH with the session's bdSeq)

On an NCMD ``Node Control/Rebirth`` = true it prints ``rebirth`` and publishes NBIRTH and
DBIRTH again (seq from 0, the same bdSeq: the session and its will are unchanged), then
``reborn``. A watcher prints ``sent TYPE TIMESTAMP`` for every device message it publishes,
read back with Google's protobuf and pysparkplug's own schema. Not part of the suite's
environment: pysparkplug needs paho-mqtt < 2.
"""

import itertools
import sys
import threading
import time

import paho.mqtt.client as paho
from pysparkplug import (
    DataType,
    DBirth,
    DData,
    Device,
    EdgeNode,
    Message,
    MessageType,
    Metric,
    NBirth,
    QoS,
    Topic,
    get_current_timestamp,
)
from pysparkplug._protobuf import Payload as ProtobufPayload

HOST, PORT, GROUP, NODE, DEVICE = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
SEQ = "_EdgeNode__seq_cycler"  # pysparkplug keeps the node's seq counter here
lock = threading.Lock()


last_ts = [0]


def stamp() -> int:
    """A timestamp after every other this driver used: a sample's identity is its time."""
    with lock:
        last_ts[0] = max(get_current_timestamp(), last_ts[0] + 1)
        return last_ts[0]


def say(line: str) -> None:
    with lock:
        print(line, flush=True)


def device_metrics(state: int, oee: float, power: float, ts: int) -> tuple:
    return (
        Metric(timestamp=ts, name="State", alias=1, datatype=DataType.INT32, value=state),
        Metric(timestamp=ts, name="OEE", alias=2, datatype=DataType.DOUBLE, value=oee),
        Metric(timestamp=ts, name="Power", alias=3, datatype=DataType.DOUBLE, value=power),
    )


current = {"state": 1, "oee": 80.0, "power": 1500.0}


def node_metrics(ts: int) -> tuple:
    return (Metric(timestamp=ts, name="Mode", datatype=DataType.STRING, value="running"),)


def rebirth(node: EdgeNode, _message: Message) -> None:
    wanted = [m for m in _message.payload.metrics if m.name == "Node Control/Rebirth"]
    if not wanted or wanted[0].value is not True:
        return
    say("rebirth")
    setattr(node, SEQ, itertools.cycle(range(256)))
    ts = stamp()
    birth = NBirth(
        timestamp=ts,
        seq=node._seq,
        metrics=(*node_metrics(ts), node._bd_seq_metric),
    )
    node._client.publish(
        Message(
            Topic(group_id=GROUP, message_type=MessageType.NBIRTH, edge_node_id=NODE),
            birth,
            QoS.AT_MOST_ONCE,
            False,
        ),
        include_dtypes=True,
    )
    ts = stamp()
    d = DBirth(timestamp=ts, seq=node._seq, metrics=device_metrics(*current.values(), ts))
    node._client.publish(
        Message(
            Topic(
                group_id=GROUP, message_type=MessageType.DBIRTH, edge_node_id=NODE, device_id=DEVICE
            ),
            d,
            QoS.AT_MOST_ONCE,
            False,
        ),
        include_dtypes=True,
    )
    say("reborn")


def watch() -> paho.Client:
    subscribed = threading.Event()
    client = paho.Client(client_id=f"watch-{NODE}", clean_session=True)

    def on_message(_c: object, _u: object, message: paho.MQTTMessage) -> None:
        kind = message.topic.split("/")[2]
        say(f"sent {kind} {ProtobufPayload.FromString(message.payload).timestamp}")

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(HOST, PORT)
    client.subscribe(f"spBv1.0/{GROUP}/+/{NODE}/{DEVICE}", qos=1)
    client.loop_start()
    subscribed.wait(10)
    return client


def main() -> None:
    watcher = watch()
    node = EdgeNode(GROUP, NODE, node_metrics(get_current_timestamp()), cmd_callback=rebirth)
    ts = get_current_timestamp()
    device = Device(DEVICE, device_metrics(*current.values(), ts))
    for line in sys.stdin:
        command, *args = line.split()
        if command == "connect":
            node.connect(HOST, port=PORT, blocking=False)
            while not node._connected:
                time.sleep(0.01)
            time.sleep(0.2)  # let its connect callback finish its births first
            node.register(device)
            say("ok connected")
        elif command == "ddata":
            current.update(state=int(args[0]), oee=float(args[1]), power=float(args[2]))
            ts = stamp()
            by_alias = tuple(
                Metric(timestamp=ts, name=None, alias=m.alias, datatype=m.datatype, value=m.value)
                for m in device_metrics(*current.values(), ts)
            )
            data = DData(timestamp=ts, seq=node._seq, metrics=by_alias)
            node._client.publish(
                Message(
                    Topic(
                        group_id=GROUP,
                        message_type=MessageType.DDATA,
                        edge_node_id=NODE,
                        device_id=DEVICE,
                    ),
                    data,
                    QoS.AT_MOST_ONCE,
                    False,
                ),
                include_dtypes=True,
            )
            say(f"ok ddata {ts}")
        elif command == "skip":
            say(f"ok skipped {node._seq}")
        elif command == "ddeath":
            node.deregister(DEVICE)
            say("ok ddeath")
        elif command == "ndeath":
            node.disconnect()
            say("ok ndeath")
    watcher.loop_stop()


if __name__ == "__main__":
    main()
