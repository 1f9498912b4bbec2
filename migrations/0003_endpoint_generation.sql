-- Which connection of an endpoint is current. A client that resumes its endpoint on a new socket
-- while the old one is still open (dead sockets are noticed only after pings) bumps it; the old
-- socket's close then changes nothing, instead of marking the live endpoint disconnected (which
-- let retention delete it, with its subscriptions, a day later).
ALTER TABLE endpoints ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
