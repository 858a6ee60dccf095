-- Context-based policies (issue 5).

-- The user's groups, a JSON array of names (`user_in_group`).
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';

-- 0 (routine) to 3 (most sensitive); `sensitivity_at_least` falls back to it.
ALTER TABLE systems ADD COLUMN sensitivity INTEGER NOT NULL DEFAULT 0
    CHECK (sensitivity BETWEEN 0 AND 3);

-- What the policy decided at the start: the rule index or 'default', and the acr.
ALTER TABLE challenges ADD COLUMN matched_rule TEXT;
ALTER TABLE challenges ADD COLUMN acr TEXT;
-- context.device_id as sent (for `new_device`).
ALTER TABLE challenges ADD COLUMN device_id TEXT;
-- The approved login this one steps up from (context.session).
ALTER TABLE challenges ADD COLUMN session_id TEXT;
-- Number matching on the link page: the code the app shows, then the three
-- choices the page offers, e.g. '47 12 47 85'. NULL without a match code.
ALTER TABLE challenges ADD COLUMN match_code TEXT;
-- The link step was approved on the appliance's page (amr `mca`).
ALTER TABLE challenges ADD COLUMN page_approved INTEGER NOT NULL DEFAULT 0;

-- `recent_auth`: the user's last approved login to a system.
CREATE INDEX challenges_approved ON challenges(user_id, system_id, completed_at)
    WHERE status = 'approved';
-- `new_device`: devices seen in the user's approved logins.
CREATE INDEX challenges_devices ON challenges(user_id, device_id)
    WHERE status = 'approved' AND device_id IS NOT NULL;

-- Every wrong PIN, link or match pick, for `recent_failures_at_least`.
CREATE TABLE auth_failures (
    id       INTEGER PRIMARY KEY,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at       INTEGER NOT NULL
);
CREATE INDEX auth_failures_user ON auth_failures(user_id, at);
