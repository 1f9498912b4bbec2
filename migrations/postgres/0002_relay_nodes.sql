-- Several relays on one database: each relay process has a node id (random, per start).
-- A lease and an endpoint's socket belong to the node that took them, so that a relay starting
-- up releases only its own leases (left by its previous run: none, since its id is new) and
-- marks dropped only its own endpoints; a dead relay's leases are taken over when they expire.
ALTER TABLE deliveries ADD COLUMN lease_node text;
ALTER TABLE endpoints ADD COLUMN node text;
CREATE INDEX endpoints_by_node ON endpoints (node) WHERE connected;
