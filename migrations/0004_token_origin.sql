-- Where a credential comes from. `relay`: issued by `bimrelay token issue`, the only tokens the relay
-- accepts on its own word. In gateway mode (`--upstream`) BIMserver's tokens are accepted too, after
-- BIMserver confirms them: `bimserver` rows are its users' tokens, `callback` rows the tokens BIMserver
-- minted for services (seen in the `token` parameter of the notifications the relay ingests). Such a
-- row gives the identity an id (topic owner, endpoints, idempotency keys) and its project scope; it is
-- never valid without a recent answer from BIMserver. `token_hash` is the token's SHA-256 and
-- `prefix` the hash's first characters, so nothing of a BIMserver token is stored.
ALTER TABLE tokens ADD COLUMN origin TEXT NOT NULL DEFAULT 'relay' CHECK (origin IN ('relay', 'bimserver', 'callback'));
