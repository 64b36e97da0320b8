package composefiles

import (
	"fmt"
	"maps"
	"strconv"

	"github.com/nanosiem/nano/services/contract"
)

// The Compose project's services, one function each; Compose puts them
// together.

// Conditions a service waits for in another.
var (
	healthy   = dep{Condition: "service_healthy"}
	started   = dep{Condition: "service_started"}
	completed = dep{Condition: "service_completed_successfully"}
)

// hardened restarts s unless stopped, rotates its logs and forbids it new
// privileges.
func hardened(s composeService) composeService {
	s.Restart = "unless-stopped"
	s.Logging = &logging{Driver: "local", Options: map[string]string{"max-size": "20m", "max-file": "5"}}
	s.SecurityOpt = []string{"no-new-privileges:true"}
	return s
}

// serviceEnv is the environment every nano service shares: each logs in as
// itself, reading its logins from its own secrets directory.
func serviceEnv(p Params, listen int, chUser string) map[string]string {
	return map[string]string{
		contract.Deployment:             p.Deployment,
		contract.PostgresURLFile:        secretsMount + "/" + secretPGURL,
		contract.ClickHouseAddr:         "clickhouse:" + port(clickhouseNative),
		contract.ClickHouseDatabase:     database,
		contract.ClickHouseUser:         chUser,
		contract.ClickHousePasswordFile: secretsMount + "/" + secretCHPass,
		contract.RetentionDays:          strconv.Itoa(p.Tier.Retention.Days),
		contract.ListenAddr:             ":" + port(listen),
	}
}

// appService is one of nano's services (api, search, ingest): read-only,
// unprivileged, with its own secrets directory, once the databases are up
// and the roles made; extra adds to serviceEnv, ports are published and
// expose are exposed beside listen.
func appService(p Params, svc, image string, listen int, chUser string, extra map[string]string, ports []string, expose ...int) composeService {
	env := serviceEnv(p, listen, chUser)
	for k, v := range extra {
		env[k] = v
	}
	var ex []string
	for _, e := range append([]int{listen}, expose...) {
		ex = append(ex, port(e))
	}
	return hardened(composeService{
		Image: image, Environment: env, Ports: ports, Expose: ex,
		ReadOnly: true, CapDrop: []string{"ALL"}, User: "65532:65532",
		Volumes:   []string{"./" + secretsDir + "/" + svc + ":" + secretsMount + ":ro"},
		DependsOn: map[string]dep{"clickhouse": healthy, "postgres": healthy, "postgres-roles": completed},
	})
}

func clickhouseService() composeService {
	return hardened(composeService{
		Image: contract.ClickHouseImage,
		Environment: map[string]string{
			"CLICKHOUSE_DB":                        database,
			"CLICKHOUSE_USER":                      dbUser,
			"CLICKHOUSE_PASSWORD":                  "${" + envClickHousePassword + "}",
			"CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT": "0",
		},
		Expose: []string{port(clickhouseNative), port(clickhouseProm)},
		Volumes: []string{
			DataDir + "/clickhouse:/var/lib/clickhouse",
			"./clickhouse/nano.xml:/etc/clickhouse-server/config.d/nano.xml:ro",
			"./clickhouse/users.xml:" + chUsersPath + ":ro",
		},
		Ulimits: map[string]limit{"nofile": {Soft: 262144, Hard: 262144}},
		Healthcheck: &healthcheck{
			Test:     []string{"CMD-SHELL", "clickhouse-client --user " + dbUser + " --password \"$$" + envClickHousePassword + "\" --query 'SELECT 1'"},
			Interval: "10s", Timeout: "5s", Retries: 12, StartPeriod: "30s",
		},
	})
}

func postgresService() composeService {
	return hardened(composeService{
		Image: contract.PostgresImage,
		Environment: map[string]string{
			"POSTGRES_DB":       database,
			"POSTGRES_USER":     dbUser,
			"POSTGRES_PASSWORD": "${" + envPostgresPassword + "}",
			"PGDATA":            "/var/lib/postgresql/data/pgdata",
		},
		Expose:  []string{port(postgresPort)},
		Volumes: []string{DataDir + "/postgres:/var/lib/postgresql/data"},
		Healthcheck: &healthcheck{
			Test:     []string{"CMD", "pg_isready", "-U", dbUser, "-d", database},
			Interval: "10s", Timeout: "5s", Retries: 12, StartPeriod: "20s",
		},
	})
}

// postgresRolesService creates the roles (or brings them to the passwords
// and rights of this deployment) before any service logs in, at every
// start, as the superuser. It exits once done.
func postgresRolesService() composeService {
	s := hardened(composeService{
		Image:   contract.PostgresImage,
		Command: []string{"psql", "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-f", rolesScriptPath},
		User:    fmt.Sprintf("%d:%d", postgresUID, postgresUID),
		Environment: map[string]string{
			"PGHOST": "postgres", "PGPORT": port(postgresPort), "PGDATABASE": database, "PGUSER": dbUser, "PGSSLMODE": "disable",
			"PGPASSWORD":            "${" + envPostgresPassword + "}",
			"NANO_API_PASSWORD":     "${" + envAPIPostgresPassword + "}",
			"NANO_INGEST_PASSWORD":  "${" + envIngestPostgresPassword + "}",
			"NANO_SEARCH_PASSWORD":  "${" + envSearchPostgresPassword + "}",
			"NANO_MONITOR_PASSWORD": "${" + envMonitorPostgresPassword + "}",
		},
		Volumes:   []string{"./postgres/roles.sql:" + rolesScriptPath + ":ro"},
		DependsOn: map[string]dep{"postgres": healthy},
		ReadOnly:  true, CapDrop: []string{"ALL"},
	})
	s.Restart = "no"
	return s
}

func postgresExporterService() composeService {
	return hardened(composeService{
		Image: contract.PostgresExporterImage,
		Environment: map[string]string{
			"DATA_SOURCE_URI":       fmt.Sprintf("postgres:%d/%s?sslmode=disable", postgresPort, database),
			"DATA_SOURCE_USER":      monitorRole,
			"DATA_SOURCE_PASS_FILE": secretsMount + "/" + secretPGPass,
		},
		Expose:    []string{port(contract.Ports.PostgresExporter)},
		Volumes:   []string{"./" + secretsDir + "/postgres-exporter:" + secretsMount + ":ro"},
		DependsOn: map[string]dep{"postgres": healthy, "postgres-roles": completed},
		ReadOnly:  true, CapDrop: []string{"ALL"},
	})
}

// apiService is the api, ClickHouse's owner.
func apiService(p Params) composeService {
	return appService(p, "api", p.Images.API, contract.Ports.API, dbUser, withSignIn(p, withDiskPolicy(p.Tier, map[string]string{
		contract.APICredentialsKey: "${" + envAPICredentialsKey + "}", contract.APIAdminToken: "${" + envAdminToken + "}",
		contract.PostgresIngestRole: contract.IngestDBUser, contract.PostgresSearchRole: contract.SearchDBUser,
		// Detections' alerts go to Alertmanager; their links to the UI.
		contract.AlertmanagerURLs: "http://alertmanager:" + port(contract.AlertmanagerPort), contract.WebURL: "https://" + p.Host,
	})), nil)
}

// webService is the UI: it needs no database, the browser calls api and
// search.
func webService(p Params) composeService {
	return hardened(composeService{
		Image:       p.Images.Web,
		Environment: map[string]string{contract.ListenAddr: ":" + port(contract.Ports.Web)},
		Expose:      []string{port(contract.Ports.Web), port(contract.Ports.WebOps)},
		ReadOnly:    true, CapDrop: []string{"ALL"}, User: "65532:65532",
	})
}

// ingestService publishes the native and syslog TLS ports itself (Caddy
// fronts the HTTP ones) and mounts their certificates.
func ingestService(p Params) composeService {
	s := appService(p, "ingest", p.Images.Ingest, contract.Ports.IngestHTTP, contract.IngestDBUser, withTenantQuota(p.Tier, map[string]string{
		contract.IngestToken:    "${" + envIngestToken + "}",
		contract.HECToken:       "${" + envHECToken + "}",
		contract.NativeTLSCert:  "/etc/nano/tls/server.crt",
		contract.NativeTLSKey:   "/etc/nano/tls/server.key",
		contract.NativeClientCA: "/etc/nano/tls/ca.crt",
		// Syslog over TLS with the same certificate; client
		// certificates of the same CA name their feed (docs/reference/syslog.md).
		contract.SyslogTLSCert: "/etc/nano/tls/server.crt", contract.SyslogTLSKey: "/etc/nano/tls/server.key",
		contract.SyslogClientCA: "/etc/nano/tls/ca.crt",
	}), []string{port(contract.Ports.IngestNative) + ":" + port(contract.Ports.IngestNative),
		port(contract.Ports.IngestSyslogTLS) + ":" + port(contract.Ports.IngestSyslogTLS)},
		contract.Ports.IngestHEC, contract.Ports.IngestNative, contract.Ports.IngestMetrics, contract.Ports.IngestOTLP)
	s.Volumes = append(s.Volumes, "./tls:/etc/nano/tls:ro")
	return s
}

func prometheusService() composeService {
	return hardened(composeService{
		Image: contract.PrometheusImage,
		Command: []string{
			"--config.file=/etc/prometheus/prometheus.yml",
			"--storage.tsdb.path=/prometheus",
			"--storage.tsdb.retention.time=15d",
		},
		Volumes: []string{
			"./prometheus.yml:/etc/prometheus/prometheus.yml:ro",
			"./alerts.yml:" + contract.AlertRulesFile + ":ro",
			DataDir + "/prometheus:/prometheus",
		},
		DependsOn: map[string]dep{"api": started, "search": started, "ingest": started, "web": started, "postgres-exporter": started, "alertmanager": started},
		ReadOnly:  true, CapDrop: []string{"ALL"},
	})
}

// alertmanagerService is one Alertmanager (no cluster: no gossip
// listener); it keeps its silences and notification log on the volume, so
// a restart neither forgets a silence nor notifies twice.
func alertmanagerService() composeService {
	return hardened(composeService{
		Image: contract.AlertmanagerImage,
		Command: []string{
			"--config.file=" + contract.AlertmanagerConfigFile,
			"--storage.path=/alertmanager",
			"--cluster.listen-address=",
		},
		User: fmt.Sprintf("%d:%d", nobodyUID, nobodyUID),
		Volumes: []string{
			"./alertmanager.yml:" + contract.AlertmanagerConfigFile + ":ro",
			DataDir + "/alertmanager:/alertmanager",
		},
		Expose:   []string{port(contract.AlertmanagerPort)},
		ReadOnly: true, CapDrop: []string{"ALL"},
	})
}

// caddyService is the HTTPS entry (Caddyfile) and TLS in front of ingest's
// HTTP ports.
func caddyService() composeService {
	return hardened(composeService{
		Image: contract.CaddyImage,
		Ports: []string{"80:80", "443:443", port(contract.Ports.IngestHTTP) + ":" + port(contract.Ports.IngestHTTP), port(contract.Ports.IngestHEC) + ":" + port(contract.Ports.IngestHEC),
			port(contract.Ports.IngestOTLP) + ":" + port(contract.Ports.IngestOTLP)},
		Volumes: []string{
			"./Caddyfile:/etc/caddy/Caddyfile:ro",
			DataDir + "/caddy:/data",
		},
		DependsOn: map[string]dep{"api": started, "search": started, "ingest": started, "web": started},
	})
}

// withBackups lets the api back both databases up to b, with the bucket's
// keys from .env. PostgreSQL's backups (when b has a URL for them): the
// api takes base backups over a replication connection (nano's
// pg_hba.conf allows one) and moves the WAL the server spools to the
// bucket, as the server's uid (the spooled files are the server's).
func withBackups(services map[string]composeService, b Backup) {
	api := services["api"]
	maps.Copy(api.Environment, map[string]string{
		contract.BackupRegion:      b.Region,
		contract.BackupAccessKeyID: "${" + envBackupKeyID + "}", contract.BackupSecretAccessKey: "${" + envBackupSecretKey + "}",
	})
	if b.ClickHouseURL != "" {
		api.Environment[contract.BackupURL] = b.ClickHouseURL
	}
	services["api"] = api
	if b.PostgresURL == "" {
		return
	}
	api.Environment[contract.PostgresBackupURL] = b.PostgresURL
	api.Environment[contract.PostgresWALSpool] = apiSpoolMount
	api.User = fmt.Sprintf("%d:%d", postgresUID, postgresUID)
	api.Volumes = append(api.Volumes, DataDir+"/"+walSpoolDir+":"+apiSpoolMount)
	services["api"] = api
	pg := services["postgres"]
	pg.Command = []string{"postgres",
		"-c", "hba_file=" + hbaMount,
		"-c", "archive_mode=on",
		"-c", "archive_command=" + contract.PostgresArchiveCommand(postgresSpoolMount),
		"-c", "archive_timeout=" + archiveTimeout,
	}
	pg.Volumes = append(pg.Volumes, DataDir+"/"+walSpoolDir+":"+postgresSpoolMount, "./postgres/pg_hba.conf:"+hbaMount+":ro")
	services["postgres"] = pg
}
