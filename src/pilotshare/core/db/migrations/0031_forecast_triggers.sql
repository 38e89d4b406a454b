-- When an instrument last triggered a forecast by going down (scheduler.risk_watch): every
-- API process listens, and this row lets exactly one of them queue the forecast, at most once
-- per quiet period per instrument.
CREATE TABLE forecast_triggers (
    instrument_id slug PRIMARY KEY REFERENCES instruments(id) ON DELETE CASCADE,
    last_at       timestamptz NOT NULL
);
