// Package composefiles builds the text files of a Compose host (Hobby and
// Startup tiers): the Docker Compose project, its .env file, the Caddy
// configuration of the HTTPS entry, Prometheus' scrape configuration,
// ClickHouse's server settings and the cloud-init document that installs
// Docker and starts it all. Every builder is pure: same input, same bytes
// (golden files in testdata/).
//
// Secrets go only into the .env file (mode 0600 on the host); the Compose
// file refers to them as ${VARIABLES}, so it holds no secret.
package composefiles
