package provision

import (
	"io/fs"
	"os"
	"path/filepath"
)

// walkFiles calls f with every regular file below dir.
func walkFiles(dir string, f func(path string, b []byte)) error {
	return filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f(path, b)
		return nil
	})
}
