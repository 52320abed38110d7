-- RFC 9449 §10: an authorization request may name the DPoP key (`dpop_jkt`, or the key of
-- the proof sent with a pushed request) that must prove possession when its code is
-- exchanged. The code keeps that key's thumbprint.
ALTER TABLE authorization_code ADD COLUMN dpop_jkt TEXT;
