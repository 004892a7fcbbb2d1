-- Agents: which agent has a contact (DescribeContact's AgentInfo, and routing state rebuilt at
-- start), which user an AGENT participant is (so an agent's workspace can find its chats again),
-- each agent's status (kept across restarts), and when each user last signed out (agent tokens
-- issued before that are refused).

ALTER TABLE contacts ADD COLUMN agent_id TEXT;
ALTER TABLE contacts ADD COLUMN connected_to_agent_at INTEGER;

ALTER TABLE participants ADD COLUMN user_id TEXT;
CREATE INDEX participants_by_user ON participants (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE agent_sign_outs (
    user_id        TEXT PRIMARY KEY,
    signed_out_at  INTEGER NOT NULL
);

CREATE TABLE agent_presence (
    user_id   TEXT PRIMARY KEY,
    presence  TEXT NOT NULL,     -- Available, Offline, Missed or custom:<status id>
    since     INTEGER NOT NULL
);
