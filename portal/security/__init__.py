"""The portal's defences for the open internet: the admin site behind a second
factor, session lifetimes, the client address behind proxies (README: Security)."""
