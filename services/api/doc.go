// Command api is nano's api service (port 3000): the REST API over the
// metadata in PostgreSQL, served by every replica, and the scheduler
// (detections, signals, enrichment sync, auto-tuning, retention) run by the
// one replica that holds the PostgreSQL advisory lock.
//
//	api                         serve (configuration from NANO_* variables)
//	api token create -tenant acme -name admin -scopes admin
//	                            create the tenant if needed and print a new token
//	api --version
package main
