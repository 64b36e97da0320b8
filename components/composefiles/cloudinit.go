package composefiles

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"

	"github.com/nanosiem/nano/components/hostguard"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/amconfig"
)

// Docker's apt repository (https://docs.docker.com/engine/install/debian/)
// and its signing key: the key itself is in the user data (cloud-init
// writes it for apt), so a boot fetches nothing from a keyserver and needs
// no gpg; compose_test checks its fingerprint.
const (
	dockerAptSource      = "deb [signed-by=$KEY_FILE] https://download.docker.com/linux/debian $RELEASE stable"
	dockerKeyFingerprint = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
)

//go:embed docker-apt-key.asc
var dockerAptKey string

type cloudConfig struct {
	PackageUpdate bool        `yaml:"package_update"`
	SSHPwauth     bool        `yaml:"ssh_pwauth"`
	Apt           aptConfig   `yaml:"apt"`
	Packages      []string    `yaml:"packages"`
	WriteFiles    []writeFile `yaml:"write_files"`
	Runcmd        [][]string  `yaml:"runcmd"`
}

type aptConfig struct {
	Sources map[string]aptSource `yaml:"sources"`
}

type aptSource struct {
	Source string `yaml:"source"`
	Key    string `yaml:"key"`
}

type writeFile struct {
	Path        string `yaml:"path"`
	Permissions string `yaml:"permissions"`
	Owner       string `yaml:"owner"`
	Content     string `yaml:"content"`
}

// CloudInit returns the #cloud-config user data of a Compose host: install
// Docker from Docker's repository, mount the data volume, write the project
// files and start the project through a systemd unit (so it comes back after
// a reboot). It holds secrets; treat the result as one.
func CloudInit(p Params, s Secrets) ([]byte, error) {
	if withKeys := s.BackupAccessKeyID != "" && s.BackupSecretAccessKey != ""; (p.Backup != nil) != withKeys {
		return nil, fmt.Errorf("a backup bucket needs both its keys, and the keys a bucket (bucket set: %v, keys set: %v)", p.Backup != nil, withKeys)
	}
	if (p.SignIn != nil) != (s.OIDCClientSecret != "") {
		return nil, fmt.Errorf("single sign-on needs its client secret, and the secret single sign-on (configured: %v, secret set: %v)", p.SignIn != nil, s.OIDCClientSecret != "")
	}
	files, logins, err := hostFiles(p, s)
	if err != nil {
		return nil, err
	}
	cfg := cloudConfig{
		PackageUpdate: true,
		SSHPwauth:     false,
		Apt:           aptConfig{Sources: map[string]aptSource{"docker.list": {Source: dockerAptSource, Key: dockerAptKey}}},
		Packages:      []string{"docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin", hostguard.Package},
		WriteFiles:    files,
		Runcmd:        bootCommands(),
	}
	if p.Backup != nil && p.Backup.PostgresURL != "" {
		cfg.WriteFiles = append(cfg.WriteFiles, rootFile(ProjectDir+"/postgres/pg_hba.conf", "0644", PostgresHBA))
	}
	// Each service's own logins, readable by its uid only.
	var chowns [][]string
	for _, f := range logins {
		path := ProjectDir + "/" + f.Path
		cfg.WriteFiles = append(cfg.WriteFiles, rootFile(path, "0400", f.Content))
		chowns = append(chowns, []string{"chown", fmt.Sprintf("%d:%d", f.UID, f.UID), path})
	}
	// Before the project starts (the last command).
	last := len(cfg.Runcmd) - 1
	cfg.Runcmd = append(cfg.Runcmd[:last:last], append(chowns, cfg.Runcmd[last])...)
	body, err := marshal(cfg)
	if err != nil {
		return nil, err
	}
	return append([]byte("#cloud-config\n"), body...), nil
}

// rootFile is a file cloud-init writes, root's.
func rootFile(path, mode, content string) writeFile {
	return writeFile{Path: path, Permissions: mode, Owner: "root:root", Content: content}
}

// hostFiles renders the host's files: the metadata guard, the data
// volume's mount script, the systemd unit and the project's files; and
// each service's own logins, which CloudInit writes for their uids.
func hostFiles(p Params, s Secrets) ([]writeFile, []SecretFile, error) {
	compose, err := Compose(p)
	if err != nil {
		return nil, nil, err
	}
	env, err := Env(s)
	if err != nil {
		return nil, nil, err
	}
	caddy, err := Caddyfile(p)
	if err != nil {
		return nil, nil, err
	}
	prom, err := Prometheus(p)
	if err != nil {
		return nil, nil, err
	}
	alerts, err := marshal(contract.AlertRules(p.Backup != nil && p.Backup.PostgresURL != ""))
	if err != nil {
		return nil, nil, err
	}
	ch, err := ClickHouseConfig(p)
	if err != nil {
		return nil, nil, err
	}
	if s.NativeCACert == "" || s.NativeServerCert == "" || s.NativeServerKey == "" {
		return nil, nil, fmt.Errorf("cannot build cloud-init: the native port's TLS files are missing")
	}
	roles, err := PostgresRoles(p)
	if err != nil {
		return nil, nil, err
	}
	chUsers, err := ClickHouseUsers(s)
	if err != nil {
		return nil, nil, err
	}
	logins, err := ServiceSecrets(p, s)
	if err != nil {
		return nil, nil, err
	}
	guard, err := hostguard.Unit("docker.service")
	if err != nil {
		return nil, nil, err
	}
	return []writeFile{
		rootFile("/usr/local/sbin/nano-mount-data", "0755", mountScript(p.VolumeDevice)),
		rootFile(hostguard.RulesetPath, "0644", hostguard.Ruleset()),
		rootFile(hostguard.UnitPath, "0644", guard),
		rootFile("/etc/systemd/system/nano.service", "0644", systemdUnit),
		rootFile(ProjectDir+"/compose.yaml", "0644", string(compose)),
		rootFile(ProjectDir+"/.env", "0600", string(env)),
		rootFile(ProjectDir+"/Caddyfile", "0644", string(caddy)),
		rootFile(ProjectDir+"/prometheus.yml", "0644", string(prom)),
		rootFile(ProjectDir+"/alerts.yml", "0644", string(alerts)),
		// Receivers' URLs and keys: Alertmanager's (nobody's) alone.
		rootFile(ProjectDir+"/alertmanager.yml", "0600", amconfig.Effective(s.AlertmanagerConfig)),
		rootFile(ProjectDir+"/clickhouse/nano.xml", "0644", string(ch)),
		// Password hashes only; the server's uid reads it.
		rootFile(ProjectDir+"/clickhouse/users.xml", "0644", string(chUsers)),
		rootFile(ProjectDir+"/postgres/roles.sql", "0644", string(roles)),
		rootFile(ProjectDir+"/tls/ca.crt", "0644", s.NativeCACert),
		rootFile(ProjectDir+"/tls/server.crt", "0644", s.NativeServerCert),
		rootFile(ProjectDir+"/tls/server.key", "0600", s.NativeServerKey),
	}, logins, nil
}

// bootCommands are the first boot's commands; the last starts the project.
func bootCommands() [][]string {
	return [][]string{
		// The metadata guard first: Docker requires it from now on, so
		// after a reboot dockerd (which restarts the project's
		// containers itself) never starts before the rule exists. At
		// this first boot no container exists yet: nano.service, which
		// creates them, requires the guard too.
		{"systemctl", "daemon-reload"},
		{"systemctl", "enable", "--now", hostguard.UnitName},
		{"/usr/local/sbin/nano-mount-data"},
		// The ingest container runs as 65532 and must read its key;
		// cloud-init's write_files only takes owners by name.
		{"chown", "65532:65532", ProjectDir + "/tls/server.key"},
		{"chown", fmt.Sprintf("%d:%d", nobodyUID, nobodyUID), ProjectDir + "/alertmanager.yml"},
		{"systemctl", "enable", "--now", "nano.service"},
	}
}

// mountScript waits for the data volume (it is attached after the server
// boots), formats it only if it holds no filesystem, mounts it through fstab
// and prepares each container's data directory.
func mountScript(device string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, `#!/bin/sh
# Mount nano's data volume. Generated by Pulumi.
set -eu
dev=%s
mnt=%s
i=0
while [ ! -b "$dev" ]; do
  i=$((i + 1))
  if [ "$i" -gt 600 ]; then echo "nano: volume $dev did not appear in 10 minutes" >&2; exit 1; fi
  sleep 1
done
blkid "$dev" >/dev/null 2>&1 || mkfs.ext4 -q -F "$dev"
mkdir -p "$mnt"
grep -q "^$dev " /etc/fstab || echo "$dev $mnt ext4 discard,nofail,defaults 0 2" >> /etc/fstab
mountpoint -q "$mnt" || mount "$mnt"
`, shellQuote(device), shellQuote(DataDir))
	for _, d := range DataDirs() {
		fmt.Fprintf(&b, "mkdir -p \"$mnt/%s\" && chown %d:%d \"$mnt/%s\"\n", d.Dir, d.UID, d.UID, d.Dir)
	}
	return b.String()
}

// DataDirOwner is a container's data directory under DataDir and the uid (and
// gid) it belongs to: the one the container's image runs as.
type DataDirOwner struct {
	Dir string
	UID int
}

// DataDirs are the containers' data directories the mount script makes.
func DataDirs() []DataDirOwner {
	return []DataDirOwner{{"clickhouse", clickhouseUID}, {"postgres", postgresUID}, {walSpoolDir, postgresUID}, {"prometheus", nobodyUID}, {"alertmanager", nobodyUID}, {"caddy", 0}}
}

const systemdUnit = `[Unit]
Description=nano (Docker Compose project in ` + ProjectDir + `)
Requires=docker.service ` + hostguard.UnitName + `
After=docker.service ` + hostguard.UnitName + ` network-online.target
Wants=network-online.target
RequiresMountsFor=` + DataDir + `

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory=` + ProjectDir + `
ExecStart=/usr/bin/docker compose --project-directory ` + ProjectDir + ` up --detach --remove-orphans
ExecStop=/usr/bin/docker compose --project-directory ` + ProjectDir + ` down
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
`

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
