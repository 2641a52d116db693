-- Which input message stored each event ("topic/partition/offset"): a retry of that same message
-- after a lost acknowledgement recognises its own row and still emits the event's outcome.
ALTER TABLE events ADD COLUMN stored_by TEXT;
