// Package services tests nano's services as they run: the Compose tiers and
// `nano local` under a real Docker engine, the web UI and sign-in in a real
// browser, alerts through real Alertmanagers to real receivers, and
// PostgreSQL's backups restored from S3. The deployment program, the engine,
// the Kubernetes rig and the provisioning endpoint are tested in package
// tests (the directory above): tests/run runs the two packages side by side,
// and they share no server, port or Docker engine.
package services
