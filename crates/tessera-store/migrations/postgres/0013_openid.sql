-- OpenID Connect (issue 18). A user's display name and whether the operator vouches for the
-- email address (the name, email and email_verified claims). An authorization code keeps
-- the request's nonce and when the user signed in, for the ID token of its exchange; a
-- token set keeps that sign-in time, since every ID token a refresh returns must name the
-- original authentication (OpenID Connect Core 1.0 §12.2).
ALTER TABLE app_user ADD COLUMN name TEXT;
ALTER TABLE app_user ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE authorization_code ADD COLUMN nonce TEXT;
ALTER TABLE authorization_code ADD COLUMN auth_time BIGINT;
ALTER TABLE token_set ADD COLUMN auth_time BIGINT;
