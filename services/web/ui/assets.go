// Package ui holds nano's analyst UI: its front-end source (src/, built by
// Vite with ./build) and the built files, embedded here so the web
// service's binary carries them.
package ui

import (
	"embed"
	"errors"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// ErrNotBuilt says the binary was compiled before the UI was built.
var ErrNotBuilt = errors.New("this binary was built without the UI (services/web/ui/dist/app is empty): run `bash services/web/ui/build` (or `make web`) before `go build`")

// Files are the built UI: index.html and assets/. ErrNotBuilt when the
// build had not run when the binary was compiled.
func Files() (fs.FS, error) {
	app, err := fs.Sub(dist, "dist/app")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(app, "index.html"); err != nil {
		return nil, ErrNotBuilt
	}
	return app, nil
}
