package provision

import (
	"fmt"
	"time"
)

// claim takes a deployment's right to run an operation, in this process
// and in every process sharing the store. Holding it, any operation the
// store still shows unfinished on the deployment was left by a process
// that stopped: it is marked interrupted and the deployment repaired
// before the next operation; claim returns the newest of them (nil for
// none). The caller starts an operation or releases.
func (m *Manager) claim(name string) (*Operation, error) {
	m.mu.Lock()
	if settled, ok := m.claiming[name]; ok {
		// Another request is claiming it: its operation starts (or the
		// claim is given back) within moments, so the answer can name the
		// operation instead of an anonymous "starting".
		m.mu.Unlock()
		select {
		case <-settled:
		case <-time.After(claimSettle):
		}
		m.mu.Lock()
	}
	if r, ok := m.busy[name]; ok {
		m.mu.Unlock()
		return nil, &BusyError{Operation: r.op.ID}
	}
	if _, ok := m.claiming[name]; ok {
		m.mu.Unlock()
		return nil, &BusyError{}
	}
	m.claiming[name] = make(chan struct{})
	m.mu.Unlock()
	ok, err := m.store.lock(name)
	if err == nil && !ok {
		busy := &BusyError{}
		if ops, _ := m.unfinishedOn(name); len(ops) > 0 {
			busy.Operation = ops[len(ops)-1].ID
		}
		err = busy
	}
	if err != nil {
		m.mu.Lock()
		m.unclaim(name)
		m.mu.Unlock()
		return nil, err
	}
	interrupted, err := m.adopt(name)
	if err != nil {
		m.release(name)
		return nil, err
	}
	return interrupted, nil
}

// claimSettle bounds how long a claim waits for another request's claim on
// the same deployment to become an operation or be given back.
const claimSettle = 5 * time.Second

// unclaim ends a claim's claiming phase (m.mu held): the operation started
// or the claim was given back; whoever waits on it looks again.
func (m *Manager) unclaim(name string) {
	if settled, ok := m.claiming[name]; ok {
		close(settled)
		delete(m.claiming, name)
	}
}

// release gives back a claim no operation was started on.
func (m *Manager) release(name string) {
	m.mu.Lock()
	m.unclaim(name)
	m.mu.Unlock()
	if err := m.store.unlock(name); err != nil {
		m.cfg.Log.Error("cannot release the deployment", "deployment", name, "error", err)
	}
}

// unfinishedOn are the operations on a deployment the store shows
// unfinished, oldest first.
func (m *Manager) unfinishedOn(name string) ([]*Operation, error) {
	ops, err := m.store.unfinished()
	if err != nil {
		return nil, fmt.Errorf("cannot read the operations: %w", err)
	}
	var out []*Operation
	for _, o := range ops {
		if o.Deployment == name {
			out = append(out, o)
		}
	}
	return out, nil
}

// adopt marks the unfinished operations on a claimed deployment as
// interrupted and the deployment as needing repair; it returns the newest.
func (m *Manager) adopt(name string) (*Operation, error) {
	ops, err := m.unfinishedOn(name)
	if err != nil {
		return nil, err
	}
	var last *Operation
	for _, o := range ops {
		now := time.Now().UTC()
		o.State, o.Finished = StateFailed, &now
		o.Error = interruptedPrefix + "the provisioning service stopped during the operation"
		if o.Owner != "" {
			o.Error = fmt.Sprintf(interruptedPrefix+"the endpoint process running it (%s) stopped during the operation", o.Owner)
		}
		if err := m.store.putOp(o); err != nil {
			return nil, err
		}
		last = o
		m.cfg.Log.Warn("operation interrupted by a stopped process; its deployment will be repaired", "operation", o.ID, "deployment", name, "owner", o.Owner)
	}
	if last == nil {
		return nil, nil
	}
	if d, err := m.store.getDeployment(name); err == nil {
		d.NeedsRepair, d.Status = true, "failed"
		if err := m.store.putDeployment(d); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// sweep takes over what stopped processes left: every deployment with an
// unfinished operation that no live process holds is claimed, adopted and,
// when its create, update or destroy had reached the engine, resumed (the
// deployment's record and its stack's settings hold what that operation
// was asked). It also applies cancel requests made through other processes
// and gives up operations whose lock a lost store connection cost.
func (m *Manager) sweep() error {
	lost, err := m.store.keepLocks()
	if err != nil {
		m.cfg.Log.Error("the store's lock session is down", "error", err)
	}
	for _, name := range lost {
		m.mu.Lock()
		if r, ok := m.busy[name]; ok {
			m.cfg.Log.Error("lost the deployment's lock with the store connection; canceling its operation", "deployment", name, "operation", r.op.ID)
			r.cancel()
		}
		m.mu.Unlock()
	}
	if ids, err := m.store.cancelRequests(m.owner); err == nil {
		for _, id := range ids {
			m.mu.Lock()
			if op, ok := m.ops[id]; ok {
				m.cancelLocal(op.Deployment, id)
			}
			m.mu.Unlock()
		}
	}
	ops, err := m.store.unfinished()
	if err != nil {
		return fmt.Errorf("cannot read the operations: %w", err)
	}
	seen := map[string]bool{}
	for _, o := range ops {
		if seen[o.Deployment] {
			continue
		}
		seen[o.Deployment] = true
		interrupted, err := m.claim(o.Deployment)
		if err != nil {
			continue // its process is alive (this one's included)
		}
		m.resume(o.Deployment, interrupted)
	}
	return nil
}

// resume carries on, on a claimed deployment, the operation the claim
// found interrupted when it had reached the engine (the deployment's
// record names it as its last), or releases the claim.
func (m *Manager) resume(name string, prev *Operation) {
	d, err := m.store.getDeployment(name)
	if err != nil || prev == nil || d.LastOp != prev.ID || m.CLIError() != nil {
		m.release(name)
		return
	}
	var fn opFunc
	switch prev.Kind {
	case KindCreate, KindUpdate:
		fn = m.upFunc(d, nil)
	case KindDestroy:
		fn = m.destroyFunc(d)
	case KindUpgrade:
		fn = m.upgradeFunc(d, nil)
	case KindCompleteUpgrade:
		fn = m.completeFunc(d)
	default:
		m.release(name)
		return
	}
	op, err := m.start(d, prev.Kind, prev.ID, fn)
	if err != nil {
		m.cfg.Log.Error("cannot resume the interrupted operation", "deployment", name, "operation", prev.ID, "error", err)
		return
	}
	prev.Error += "; resumed by operation " + op.ID
	prev.ResumedBy = op.ID
	if err := m.store.putOp(prev); err != nil {
		m.cfg.Log.Error("cannot record the resumption", "operation", prev.ID, "error", err)
	}
	m.cfg.Log.Warn("resuming an interrupted operation", "deployment", name, "interrupted", prev.ID, "operation", op.ID, "kind", op.Kind)
}

// janitor sweeps every PollInterval while the store is shared.
func (m *Manager) janitor() {
	defer m.swept.Done()
	t := time.NewTicker(m.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if err := m.sweep(); err != nil {
				m.cfg.Log.Error("cannot look for interrupted operations", "error", err)
			}
		}
	}
}
