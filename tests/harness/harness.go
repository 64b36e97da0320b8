package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long a server may take to answer.
const startTimeout = 60 * time.Second

// server is a child process that dies with the test process.
type server struct {
	name    string
	cmd     *exec.Cmd
	dir     string
	log     lockedBuffer
	done    chan struct{}
	waitErr error
	once    sync.Once
}

// PID is the server process's id (for resource accounting).
func (s *server) PID() int { return s.cmd.Process.Pid }

// start starts the server's command; a server whose parent dies is killed.
func (s *server) start() error {
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if s.cmd.SysProcAttr == nil {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", s.name, err)
	}
	s.done = make(chan struct{})
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	return nil
}

// stop terminates the server and removes its directory.
func (s *server) stop() {
	s.once.Do(func() {
		if s.done != nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(15 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
	})
}

// waitReady polls ready until it succeeds, the process exits or
// startTimeout runs out.
func (s *server) waitReady(ready func(context.Context) error) error {
	return s.waitReadyWithin(ready, startTimeout)
}

// waitReadyWithin is waitReady with its own bound, for servers slower to
// start than most (the Kubernetes API server).
func (s *server) waitReadyWithin(ready func(context.Context) error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited during start-up (%v); its output:\n%s", s.name, s.waitErr, s.log.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s (last error: %v); its output:\n%s", s.name, timeout, last, s.log.String())
}

// freePorts returns n free loopback ports, distinct since each is
// reserved by FreePort.
func freePorts(n int) ([]int, error) {
	out := make([]int, 0, n)
	for range n {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// lockedBuffer is a bytes.Buffer safe for a child's stdout and stderr.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
