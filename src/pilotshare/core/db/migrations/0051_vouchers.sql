-- Vouchers as the city's programme defines them (中试服务券, 检验检测服务券): issued by the
-- network operator to a client, a voucher pays at most ``share`` of each eligible statement
-- line and at most ``cap`` of any one line, ``amount`` (its face value) in all, for bookings
-- starting inside its validity (dates read in each booking's site's zone; NULL: unbounded) on
-- the platforms, instrument kinds and service items of its scope (empty: any). Redemptions
-- are computed when statements are read (billing.redemption), never stored: the terms here
-- and the bookings are all they depend on. A revoked voucher pays nothing of bookings
-- starting after ``revoked_at``. Rows from before keep their meaning: share 1, no expiry,
-- any scope, no cap beyond the face value.
ALTER TABLE vouchers
    ADD COLUMN IF NOT EXISTS programme text NOT NULL DEFAULT 'pilot'
        CHECK (programme IN ('pilot', 'testing')),
    ADD COLUMN IF NOT EXISTS share numeric(5, 4) NOT NULL DEFAULT 1
        CHECK (share > 0 AND share <= 1),
    ADD COLUMN IF NOT EXISTS cap numeric(12, 2),
    ADD COLUMN IF NOT EXISTS valid_from date,
    ADD COLUMN IF NOT EXISTS valid_until date,
    ADD COLUMN IF NOT EXISTS platforms text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS kinds text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS service_items text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS issued_by text,
    ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
-- cap NULL: the face value (rows from before; the API always stores one)
ALTER TABLE vouchers ADD CONSTRAINT vouchers_cap CHECK (cap IS NULL OR (cap > 0 AND cap <= amount));
ALTER TABLE vouchers ADD CONSTRAINT vouchers_validity
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until);
CREATE INDEX IF NOT EXISTS vouchers_platforms ON vouchers USING gin (platforms);

-- A booking made for a priced service item (the directory's service_items; its migration,
-- numbered before this one, creates the column with its reference): a voucher's scope may
-- name service items.
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS service_item_id text;
