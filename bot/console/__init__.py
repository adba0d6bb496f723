"""The staff web console at /console/: server-rendered pages over the channel-neutral handlers."""
