-- The public directory (莞仪在线-style sharing): platforms' profiles, instruments' public flag
-- and model, and service items (服务项目), the priced services a platform offers.
-- Nothing is public until its platform says so: a platform's profile, and each instrument and
-- service item, carry their own ``public`` flag (all default false), and the directory shows
-- an instrument or item only when both it and its platform are public.
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS name_zh text;
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS name_en text;
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS site_id slug REFERENCES sites(id);
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS address text NOT NULL DEFAULT '';
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS description_zh text NOT NULL DEFAULT '';
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS description_en text NOT NULL DEFAULT '';
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS contact jsonb NOT NULL DEFAULT '{}';
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS accreditations text[] NOT NULL DEFAULT '{}';
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS public boolean NOT NULL DEFAULT false;
ALTER TABLE organisations ADD COLUMN IF NOT EXISTS profile_updated_at timestamptz;

ALTER TABLE instruments ADD COLUMN IF NOT EXISTS public boolean NOT NULL DEFAULT false;
ALTER TABLE instruments ADD COLUMN IF NOT EXISTS model text;

CREATE TABLE IF NOT EXISTS service_items (
    id              slug PRIMARY KEY,
    platform_org_id slug NOT NULL REFERENCES organisations(id),
    site_id         slug NOT NULL REFERENCES sites(id),
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    description_zh  text NOT NULL DEFAULT '',
    description_en  text NOT NULL DEFAULT '',
    unit            text NOT NULL,
    price           numeric(12, 2) NOT NULL CHECK (price >= 0),
    kind            slug,
    instrument_id   slug REFERENCES instruments(id),
    public          boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS service_items_platform ON service_items (platform_org_id, id);

-- A booking may be made for a priced service item (the scheduler checks it belongs to the
-- instrument's platform); an item named by bookings cannot be deleted, only hidden.
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS service_item_id slug
    REFERENCES service_items(id) ON DELETE RESTRICT;
