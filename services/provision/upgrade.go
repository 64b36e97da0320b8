package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// UpgradeRequest moves a deployment to a higher tier (or, at the same
// tier, to another provider or region): its Request creates the new
// deployment (named by its name; tier, provider and region default to the
// old deployment's), and the old one's data is moved into it.
type UpgradeRequest struct {
	Request
	Move DataAddresses `json:"move"`
}

// UpgradingError refuses a change to a deployment that is being upgraded
// into another one.
type UpgradingError struct{ Source, Target string }

func (e *UpgradingError) Error() string {
	return fmt.Sprintf("deployment %q is being upgraded into %q: complete the upgrade (POST /v1/deployments/%s/upgrade/complete), "+
		"which moves the last events and retires this one, or abandon it (DELETE /v1/deployments/%s)", e.Source, e.Target, e.Target, e.Target)
}

// upgradingInto is the deployment d is being upgraded into ("" for none).
// A mark whose target is gone, or no longer names d, is stale.
func (m *Manager) upgradingInto(d *Deployment) string {
	if d.UpgradingTo == "" {
		return ""
	}
	t, err := m.store.getDeployment(d.UpgradingTo)
	if err != nil || t.UpgradeOf != d.Name {
		return ""
	}
	return t.Name
}

// upgradeGuard refuses to change or destroy a deployment being upgraded.
func (m *Manager) upgradeGuard(d *Deployment) error {
	if t := m.upgradingInto(d); t != "" {
		return &UpgradingError{Source: d.Name, Target: t}
	}
	return nil
}

// tierMoveProblems checks a move from one tier, provider and region to
// another against the catalog's order.
func tierMoveProblems(from *Deployment, to Request) []Problem {
	a, b := tier.Rank(tier.Name(from.Tier)), tier.Rank(tier.Name(to.Tier))
	switch {
	case b < 0:
		return nil // the request's validation names the unknown tier
	case b < a:
		return []Problem{problem("tier", "%q is below %q: the catalog moves deployments up (%s), never down", to.Tier, from.Tier, tierOrder())}
	case b == a && to.Provider == from.Provider && to.Region == from.Region:
		return []Problem{problem("tier", "%q on %s in %q is the deployment's own: an upgrade changes the tier, the provider or the region",
			to.Tier, to.Provider, to.Region)}
	}
	return nil
}

func tierOrder() string {
	var names []string
	for _, n := range tier.Names() {
		names = append(names, string(n))
	}
	return strings.Join(names, " → ")
}

// Upgrade checks an upgrade of deployment name, records the new
// deployment and starts the upgrade operation on it: stand the new
// deployment up, move the events, move the metadata, verify. The old
// deployment keeps running (and ingesting) meanwhile and refuses changes
// until CompleteUpgrade retires it. Asked again with the same target, a
// failed upgrade runs again (every step is idempotent).
func (m *Manager) Upgrade(name string, req UpgradeRequest) (*Operation, error) {
	if err := m.CLIError(); err != nil {
		return nil, err
	}
	src, err := m.claimed(name)
	if err != nil {
		return nil, err
	}
	defer m.release(name)
	creq := req.Request
	// The path's deployment is no request field: its problems name none
	// and say which deployment.
	var problems []Problem
	if req.Name == name {
		problems = append(problems, problem("name", "is the deployment being upgraded; name the new deployment"))
	}
	// The target: new, or the one a failed upgrade left (run again, with
	// the tier, provider and region it has).
	var prev *Deployment
	into := m.upgradingInto(src)
	switch {
	case into != "" && into != req.Name:
		problems = append(problems, problem("", "%s: is being upgraded into %q already", name, into))
	case into != "":
		if prev, err = m.store.getDeployment(into); err != nil {
			return nil, err
		}
		// Run again, the metadata step would replace what the new
		// deployment recorded since.
		if prev.Status == "ready" {
			problems = append(problems, problem("", "%s: is upgraded into %q already: complete the upgrade (POST /v1/deployments/%s/upgrade/complete)", name, into, into))
		}
	case src.Status != "ready":
		problems = append(problems, problem("", "%s: is %s; only a ready deployment is upgraded", name, src.Status))
	}
	if src.UpgradeOf != "" {
		if of, err := m.store.getDeployment(src.UpgradeOf); err == nil && m.upgradingInto(of) == name {
			problems = append(problems, problem("", "%s: its own upgrade from %q is not complete (POST /v1/deployments/%s/upgrade/complete)", name, of.Name, name))
		}
	}
	to := creq
	switch {
	case prev != nil:
		to.Tier, to.Provider, to.Region = prev.Tier, prev.Provider, prev.Region
	default:
		to.Tier, to.Provider, to.Region = or(to.Tier, src.Tier), or(to.Provider, src.Provider), or(to.Region, src.Region)
		creq = to
	}
	problems = append(problems, tierMoveProblems(src, to)...)
	if spec, ok := tier.Lookup(tier.Name(to.Tier)); ok && req.Move.TargetCluster == "" {
		req.Move.TargetCluster = spec.ClickHouseCluster()
	}
	if spec, ok := tier.Lookup(tier.Name(src.Tier)); ok && req.Move.SourceCluster == "" {
		req.Move.SourceCluster = spec.ClickHouseCluster()
	}
	problems = append(problems, req.Move.problems()...)
	d, secrets, err := m.plan(creq, prev)
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		problems = append(problems, ve.Problems...)
	case err != nil:
		return nil, err
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	if prev == nil {
		if err := m.claimNew(d.Name); err != nil {
			return nil, err
		}
		if err := m.isolate(d); err != nil {
			m.release(d.Name)
			return nil, err
		}
		d.Status = "creating"
	} else if _, err := m.claim(d.Name); err != nil {
		return nil, err
	}
	d.UpgradeOf = name
	if err := m.store.putDeployment(d); err != nil {
		m.release(d.Name)
		return nil, err
	}
	src.UpgradingTo = d.Name
	if err := m.store.putDeployment(src); err != nil {
		m.release(d.Name)
		return nil, err
	}
	for k, v := range req.Move.config() {
		secrets[k] = v
	}
	return issued(m.start(d, KindUpgrade, "", m.upgradeFunc(d, secrets)))(secrets)
}

// upgradeFunc stands the new deployment up (with the request's secrets
// and the data addresses; nil when resuming: the stack holds them), then
// moves and verifies the data.
func (m *Manager) upgradeFunc(d *Deployment, secrets map[string]string) opFunc {
	up := m.upFunc(d, secrets)
	return func(ctx context.Context, op *Operation, evs chan<- []byte) error {
		err := m.step(op, evs, "create", func(func(string)) (string, error) {
			if err := up(ctx, op, evs); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s stands (%s on %s)", d.Name, d.Tier, d.Provider), nil
		})
		if err != nil {
			return err
		}
		d.Status = "moving"
		if err := m.store.putDeployment(d); err != nil {
			return err
		}
		stack, err := m.prepare(ctx, d.Name)
		if err != nil {
			return err
		}
		conns, err := openMove(ctx, stack)
		if err != nil {
			return err
		}
		defer conns.close()
		if err := m.step(op, evs, "events", func(progress func(string)) (string, error) {
			return conns.moveEvents(ctx, progress)
		}); err != nil {
			return err
		}
		if err := m.step(op, evs, "metadata", func(func(string)) (string, error) {
			return conns.moveMetadata(ctx)
		}); err != nil {
			return err
		}
		// What the old deployment acknowledged during the first two steps.
		if err := m.step(op, evs, "verify", func(progress func(string)) (string, error) {
			return conns.moveEvents(ctx, progress)
		}); err != nil {
			return err
		}
		d.Status = "ready"
		return m.store.putDeployment(d)
	}
}

// CompleteUpgrade is the operator's confirmation, once the shippers send
// to the new deployment: the events the old one acknowledged since are
// moved and verified, and when no more arrive the old deployment is
// destroyed.
func (m *Manager) CompleteUpgrade(name string) (*Operation, error) {
	if err := m.CLIError(); err != nil {
		return nil, err
	}
	d, err := m.claimed(name)
	if err != nil {
		return nil, err
	}
	var refused []Problem
	switch {
	case d.UpgradeOf == "":
		refused = append(refused, problem("", "%s: is not the target of an upgrade", name))
	case d.Status != "ready" && !m.lastOpIs(d, KindCompleteUpgrade):
		refused = append(refused, problem("", "%s: is %s: its upgrade has not succeeded (run it again with the same request)", name, d.Status))
	}
	if len(refused) > 0 {
		m.release(name)
		return nil, &ValidationError{Problems: refused}
	}
	return m.start(d, KindCompleteUpgrade, "", m.completeFunc(d))
}

// completeFunc holds the old deployment as well while it runs, so no other
// operation starts on it.
func (m *Manager) completeFunc(d *Deployment) opFunc {
	return func(ctx context.Context, op *Operation, evs chan<- []byte) error {
		d.LastOp = op.ID
		if err := m.store.putDeployment(d); err != nil {
			return err
		}
		stack, err := m.prepare(ctx, d.Name)
		if err != nil {
			return err
		}
		old := d.UpgradeOf
		src, err := m.store.getDeployment(old)
		if err == nil {
			if err := m.hold(old, d.Name); err != nil {
				return fmt.Errorf("the old deployment %q: %w", old, err)
			}
			defer m.unhold(old)
			if src, err = m.store.getDeployment(old); err != nil {
				return err
			}
			if err := m.retire(ctx, op, evs, stack, d, src); err != nil {
				return err
			}
		}
		// Gone already: an interrupted completion destroyed it.
		return m.step(op, evs, "finish", func(func(string)) (string, error) {
			if err := stack.RemoveAllConfig(ctx, moveConfigKeys()); err != nil {
				return "", fmt.Errorf("cannot remove the data addresses from the stack: %w", err)
			}
			if err := m.saveSettings(d.Name); err != nil {
				return "", err
			}
			d.UpgradeOf, d.Status = "", "ready"
			return fmt.Sprintf("%s replaces %s; the data addresses are removed from its stack", d.Name, old), m.store.putDeployment(d)
		})
	}
}

// retire moves the old deployment's last events, checks none arrive any
// more, and destroys it.
func (m *Manager) retire(ctx context.Context, op *Operation, evs chan<- []byte, stack auto.Stack, d, src *Deployment) error {
	// The old deployment's last operation is a completion when an earlier
	// one began to destroy it (and failed or was interrupted): only the
	// destroy is left, its stack repaired first.
	if !m.lastOpIs(src, KindCompleteUpgrade) {
		conns, err := openMove(ctx, stack)
		if err != nil {
			return err
		}
		defer conns.close()
		if err := m.step(op, evs, "final-events", func(progress func(string)) (string, error) {
			return conns.moveEvents(ctx, progress)
		}); err != nil {
			return err
		}
		// A second pass that copies anything means shippers still send to
		// the old deployment: destroying it would lose what it acknowledges.
		err = m.step(op, evs, "quiet", func(progress func(string)) (string, error) {
			detail, copied, err := conns.eventsPass(ctx, progress)
			if err == nil && copied > 0 {
				err = fmt.Errorf("the old deployment %q still receives events (%d arrived during the final pass): "+
					"point every shipper at %s's ingest and complete the upgrade again", src.Name, copied, d.Name)
			}
			return detail, err
		})
		if err != nil {
			return err
		}
	} else {
		src.NeedsRepair = true
		if err := m.store.putDeployment(src); err != nil {
			return err
		}
	}
	return m.step(op, evs, "retire", func(func(string)) (string, error) {
		if err := m.destroyFunc(src)(ctx, op, evs); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s destroyed", src.Name), nil
	})
}

// lastOpIs reports whether d's last operation is of kind.
func (m *Manager) lastOpIs(d *Deployment, kind string) bool {
	if d.LastOp == "" {
		return false
	}
	op, err := m.store.getOp(d.LastOp)
	return err == nil && op.Kind == kind
}

// hold takes a second deployment's claim for the operation running on
// deployment by: a request for it gets 409 naming that operation.
func (m *Manager) hold(name, by string) error {
	if _, err := m.claim(name); err != nil {
		return err
	}
	m.mu.Lock()
	m.busy[name] = m.busy[by]
	m.unclaim(name)
	m.mu.Unlock()
	return nil
}

// unhold gives back what hold took.
func (m *Manager) unhold(name string) {
	m.mu.Lock()
	delete(m.busy, name)
	m.mu.Unlock()
	if err := os.RemoveAll(m.credentialsDir(name)); err != nil {
		m.cfg.Log.Error("cannot remove the operation's credential files", "deployment", name, "error", err)
	}
	if err := m.store.unlock(name); err != nil {
		m.cfg.Log.Error("cannot release the deployment", "deployment", name, "error", err)
	}
}

// Step is one named step of an upgrade: its state and what it did.
type Step struct {
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// step runs one step of op, recorded in its steps and told to its event
// stream ({"upgradeStep": ...}) as it starts, progresses and ends.
func (m *Manager) step(op *Operation, evs chan<- []byte, name string, f func(progress func(string)) (string, error)) error {
	m.setStep(op, evs, Step{Name: name, State: StateRunning})
	detail, err := f(func(p string) { m.setStep(op, evs, Step{Name: name, State: StateRunning, Detail: p}) })
	s := Step{Name: name, State: StateSucceeded, Detail: detail}
	if err != nil {
		s.State, s.Detail = StateFailed, err.Error()
	}
	m.setStep(op, evs, s)
	return err
}

func (m *Manager) setStep(op *Operation, evs chan<- []byte, s Step) {
	s.At = time.Now().UTC()
	m.update(op, func(o *Operation) {
		steps := slices.Clone(o.Steps)
		if n := len(steps); n > 0 && steps[n-1].Name == s.Name {
			steps[n-1] = s
		} else {
			steps = append(steps, s)
		}
		o.Steps = steps
	})
	b, _ := json.Marshal(map[string]Step{"upgradeStep": s})
	evs <- b
}

// openMove connects to both deployments' databases at the addresses the
// new deployment's stack keeps.
func openMove(ctx context.Context, stack auto.Stack) (*moveConns, error) {
	cfg, err := stack.GetAllConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read the data addresses from the stack: %w", err)
	}
	var a DataAddresses
	for _, f := range a.fields() {
		*f.v = cfg[f.key].Value
	}
	if p := a.problems(); len(p) > 0 {
		return nil, fmt.Errorf("the stack's data addresses: %v", (&ValidationError{Problems: p}).Error())
	}
	return a.open(ctx)
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
