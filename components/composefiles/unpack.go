package composefiles

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// HostFile is a file of a Compose host's user data (write_files).
type HostFile struct {
	Path    string
	Mode    os.FileMode
	Content string
}

// UserData is what a Compose host's user data (CloudInit) writes and runs:
// what the Compose rig and nano's local project lay out as cloud-init would.
type UserData struct {
	Files  []HostFile
	Runcmd [][]string
}

// Unpack reads CloudInit's user data back into its files and commands.
// Every file belongs to root:root (cloud-init's write_files owner; the
// commands give some to the services' uids).
func Unpack(ud []byte) (*UserData, error) {
	var cfg cloudConfig
	if err := yaml.Unmarshal(ud, &cfg); err != nil {
		return nil, fmt.Errorf("cannot read the user data: %w", err)
	}
	out := &UserData{Runcmd: cfg.Runcmd}
	for _, f := range cfg.WriteFiles {
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		if err != nil || f.Owner != "root:root" {
			return nil, fmt.Errorf("write_files %s: permissions %q owner %q", f.Path, f.Permissions, f.Owner)
		}
		out.Files = append(out.Files, HostFile{Path: f.Path, Mode: os.FileMode(mode), Content: f.Content})
	}
	return out, nil
}

// InProject is the path of a project file relative to ProjectDir (ok:
// the file is the project's, not the host's).
func InProject(path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, ProjectDir+"/")
	return rel, ok && rel != "" && !strings.Contains("/"+rel+"/", "/../")
}
