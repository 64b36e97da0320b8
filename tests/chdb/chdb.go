// Package chdb runs SQL on the modern ClickHouse engine in-process, through
// libchdb (ClickHouse 26.7 as a shared library, from the npm package
// @chdb/lib-linux-x64-gnu that tests/setup installs). Tests use it to prove
// that nano's production DDL, inserts and queries execute on a current
// ClickHouse, next to the 18.16 server the harness runs.
//
// The library is opened at run time (dlopen) from NANO_CHDB_LIB, or the
// path tests/setup uses; a missing library is an error, never a skip.
package chdb

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef struct { void *internal_data; } chdb_connection_;
typedef chdb_connection_ *chdb_connection;
typedef struct { void *internal_data; } chdb_result;

typedef chdb_connection *(*connect_fn)(int, char **);
typedef void (*close_fn)(chdb_connection *);
typedef chdb_result *(*query_fn)(chdb_connection, const char *, const char *);
typedef void (*destroy_fn)(chdb_result *);
typedef char *(*buffer_fn)(chdb_result *);
typedef size_t (*length_fn)(chdb_result *);
typedef const char *(*error_fn)(chdb_result *);

static void *lib;
static connect_fn p_connect;
static close_fn p_close;
static query_fn p_query;
static destroy_fn p_destroy;
static buffer_fn p_buffer;
static length_fn p_length;
static error_fn p_error;

static const char *load(const char *path) {
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) return dlerror();
	p_connect = (connect_fn)dlsym(lib, "chdb_connect");
	p_close = (close_fn)dlsym(lib, "chdb_close_conn");
	p_query = (query_fn)dlsym(lib, "chdb_query");
	p_destroy = (destroy_fn)dlsym(lib, "chdb_destroy_query_result");
	p_buffer = (buffer_fn)dlsym(lib, "chdb_result_buffer");
	p_length = (length_fn)dlsym(lib, "chdb_result_length");
	p_error = (error_fn)dlsym(lib, "chdb_result_error");
	if (!p_connect || !p_close || !p_query || !p_destroy || !p_buffer || !p_length || !p_error) return "libchdb lacks a chdb_* function";
	return 0;
}

static chdb_connection *do_connect(int argc, char **argv) { return p_connect(argc, argv); }
static void do_close(chdb_connection *c) { p_close(c); }
static chdb_result *do_query(chdb_connection *c, const char *q, const char *f) { return p_query(*c, q, f); }
static void do_destroy(chdb_result *r) { p_destroy(r); }
static char *do_buffer(chdb_result *r) { return p_buffer(r); }
static size_t do_length(chdb_result *r) { return p_length(r); }
static const char *do_error(chdb_result *r) { return p_error(r); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"
)

// Version is the libchdb tests/setup installs.
const Version = "26.7.3-stable.1"

// LibraryPath is where the library is: NANO_CHDB_LIB, else tests/setup's
// cache path.
func LibraryPath() string {
	if p := os.Getenv("NANO_CHDB_LIB"); p != "" {
		return p
	}
	cache := os.Getenv("NANO_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "nano")
	}
	return filepath.Join(cache, "chdb-"+Version, "libchdb.so")
}

var (
	loadOnce sync.Once
	loadErr  error
	// The engine is one per process; queries are serialized.
	mu sync.Mutex
)

// Engine is an in-process ClickHouse with its data in a directory.
type Engine struct {
	conn *C.chdb_connection
}

// Open loads the library (once) and starts an engine with its data in dir.
// Only one engine may be open per process.
func Open(dir string) (*Engine, error) { return OpenWith(dir) }

// OpenWith is Open with more clickhouse-local arguments (a
// --config-file=...).
func OpenWith(dir string, extra ...string) (*Engine, error) {
	loadOnce.Do(func() {
		path := LibraryPath()
		if _, err := os.Stat(path); err != nil {
			loadErr = fmt.Errorf("libchdb not found at %s (run tests/run, which installs it): %w", path, err)
			return
		}
		cpath := C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
		if msg := C.load(cpath); msg != nil {
			loadErr = fmt.Errorf("cannot load %s: %s", path, C.GoString(msg))
		}
	})
	if loadErr != nil {
		return nil, loadErr
	}
	args := append([]string{"clickhouse", "--path=" + dir}, extra...)
	argv := make([]*C.char, len(args))
	for i, a := range args {
		argv[i] = C.CString(a)
		defer C.free(unsafe.Pointer(argv[i]))
	}
	mu.Lock()
	defer mu.Unlock()
	conn := C.do_connect(C.int(len(args)), &argv[0])
	if conn == nil {
		return nil, errors.New("chdb_connect failed")
	}
	return &Engine{conn: conn}, nil
}

// Query runs one statement and returns its output in format (e.g.
// "TSV", "JSONEachRow"; "" for statements without output).
func (e *Engine) Query(sql, format string) (string, error) {
	if format == "" {
		format = "TSV"
	}
	cq, cf := C.CString(sql), C.CString(format)
	defer C.free(unsafe.Pointer(cq))
	defer C.free(unsafe.Pointer(cf))
	mu.Lock()
	defer mu.Unlock()
	r := C.do_query(e.conn, cq, cf)
	if r == nil {
		return "", errors.New("chdb_query returned no result")
	}
	defer C.do_destroy(r)
	if msg := C.do_error(r); msg != nil {
		return "", fmt.Errorf("clickhouse %s: %s", Version, C.GoString(msg))
	}
	n := C.do_length(r)
	if n == 0 {
		return "", nil
	}
	return C.GoStringN(C.do_buffer(r), C.int(n)), nil
}

// Close stops the engine.
func (e *Engine) Close() {
	mu.Lock()
	defer mu.Unlock()
	if e.conn != nil {
		C.do_close(e.conn)
		e.conn = nil
	}
}
