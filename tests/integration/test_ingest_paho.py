"""The ingest's one private access into aiomqtt: the paho client it publishes acks on."""

from __future__ import annotations

import asyncio
import secrets

import paho.mqtt.client as paho

from pilotshare.core.settings import MqttEndpoint
from pilotshare.twin.connection import make_client
from pilotshare.twin.ingest import paho_client


async def test_acks_published_straight_to_paho_reach_the_broker(
    mqtt_endpoint: MqttEndpoint,
) -> None:
    topic = f"test/{secrets.token_hex(6)}/ack"
    client = make_client(mqtt_endpoint, f"test-{secrets.token_hex(4)}", v5=False, queue=10)
    async with client:
        direct = paho_client(client)
        assert isinstance(direct, paho.Client)
        await client.subscribe(topic, qos=1)
        assert direct.publish(topic, b'{"batches":[1]}', qos=1).rc == paho.MQTT_ERR_SUCCESS
        message = await asyncio.wait_for(anext(aiter(client.messages)), 5)
        assert str(message.topic) == topic
        assert message.payload == b'{"batches":[1]}'
