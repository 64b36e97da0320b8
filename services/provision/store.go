package provision

import (
	"strings"
	"time"
)

// Operation kinds.
const (
	KindCreate  = "create"
	KindUpdate  = "update"
	KindPreview = "preview"
	KindRefresh = "refresh"
	KindDestroy = "destroy"
	KindRepair  = "repair"
	// KindUpgrade runs on a new deployment: stand it up, move an old
	// one's data into it, verify; KindCompleteUpgrade moves the last
	// events and destroys the old one.
	KindUpgrade         = "upgrade"
	KindCompleteUpgrade = "complete-upgrade"
)

// Operation states.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
)

// Operation is one engine run on a deployment's stack.
type Operation struct {
	ID         string            `json:"id"`
	Deployment string            `json:"deployment"`
	Kind       string            `json:"kind"`
	State      string            `json:"state"`
	Error      string            `json:"error,omitempty"`
	Created    time.Time         `json:"created"`
	Started    *time.Time        `json:"started,omitempty"`
	Finished   *time.Time        `json:"finished,omitempty"`
	Summary    map[string]int    `json:"summary,omitempty"`
	Events     int               `json:"events"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	// Owner is the endpoint process that runs (or ran) the operation.
	Owner string `json:"owner,omitempty"`
	// Resumes is the interrupted operation this one carries on;
	// ResumedBy, on an interrupted one, the operation that carries it on.
	Resumes   string `json:"resumes,omitempty"`
	ResumedBy string `json:"resumedBy,omitempty"`
	// Steps are an upgrade's steps as they ran.
	Steps []Step `json:"steps,omitempty"`
	// issuedExternalID is the AWS external id the request that started the
	// operation generated: in that request's answer only, never stored.
	issuedExternalID string
}

// interruptedPrefix begins the error of an operation a stopped process
// left unfinished.
const interruptedPrefix = "interrupted: "

// Interrupted reports whether a stopped endpoint process left the
// operation unfinished: it failed without an outcome of its own, and an
// operation resuming it (ResumedBy) may follow.
func (o *Operation) Interrupted() bool {
	return o.State == StateFailed && strings.HasPrefix(o.Error, interruptedPrefix)
}

// Done reports whether the operation ended.
func (o *Operation) Done() bool {
	return o.State == StateSucceeded || o.State == StateFailed || o.State == StateCanceled
}

// Deployment is a managed stack and what was asked of it.
type Deployment struct {
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	Provider string `json:"provider"`
	Region   string `json:"region"`
	// Config holds the stack's plain config ("nano:key" -> value); secret
	// values live only in the stack's encrypted config.
	Config     map[string]string `json:"config"`
	SecretKeys []string          `json:"secretKeys,omitempty"`
	// Mode is "byoc" when the deployment carries its own cloud
	// credentials (Request.Credentials) or kubeconfig, else "managed".
	Mode string `json:"mode,omitempty"`
	// Isolation is how its operations run (IsolationUID: as UID, in
	// directories and a state backend of their own; "" or IsolationNone:
	// as the server), fixed when it is created.
	Isolation string    `json:"isolation,omitempty"`
	UID       uint32    `json:"uid,omitempty"`
	Created   time.Time `json:"created"`
	LastOp    string    `json:"lastOperation,omitempty"`
	// Status: "creating", "updating", "moving" (an upgrade moves data
	// into it), "ready", "failed", "destroying"
	// (a destroyed deployment's record is removed).
	Status string `json:"status"`
	// NeedsRepair is set when an operation was interrupted: the next one
	// first clears stale locks and pending operations.
	NeedsRepair bool `json:"needsRepair,omitempty"`
	// Outputs are the stack's outputs after the last update, secrets
	// masked as "[secret]".
	Outputs map[string]string `json:"outputs,omitempty"`
	// UpgradeOf, on a deployment an upgrade created, is the deployment it
	// replaces until the upgrade is completed; UpgradingTo, on that one,
	// names it (changes are refused meanwhile).
	UpgradeOf   string `json:"upgradeOf,omitempty"`
	UpgradingTo string `json:"upgradingTo,omitempty"`
}

// store keeps deployments, operations and their events, and serializes
// operations per deployment across every endpoint process that shares it.
type store interface {
	putOp(o *Operation) error
	getOp(id string) (*Operation, error)
	// unfinished are the operations not recorded as ended, oldest first.
	unfinished() ([]*Operation, error)
	putDeployment(d *Deployment) error
	getDeployment(name string) (*Deployment, error)
	deleteDeployment(name string) error
	deployments() ([]*Deployment, error)
	appendEvent(id string, event []byte) error
	// events returns the operation's events from index from on.
	events(id string, from int) ([][]byte, error)
	// putStackSettings keeps the stack's settings file (Pulumi.<name>.yaml:
	// its config, secrets encrypted) where every process finds it;
	// stackSettings returns it, nil when the store keeps none.
	putStackSettings(name string, b []byte) error
	stackSettings(name string) ([]byte, error)
	// lock takes the deployment's right to run an operation, false when
	// another holder has it; unlock gives it back.
	lock(name string) (bool, error)
	unlock(name string) error
	// keepLocks checks the locks are still held after a connection loss
	// and returns those that were lost.
	keepLocks() (lost []string, err error)
	// requestCancel asks the process running the operation to cancel it;
	// cancelRequests are the ones asked of this owner's operations.
	requestCancel(id string) error
	cancelRequests(owner string) ([]string, error)
	// nextUID returns 1, 2, 3, ...: never the same number twice, across
	// every process sharing the store (deployments' uids).
	nextUID() (uint64, error)
	// Tokens: putToken records one (its hash), tokens lists them (of one
	// deployment, or all for ""), tokenByHash finds one, deleteToken
	// revokes one and deleteTokens every one of a deployment.
	putToken(t *Token) error
	tokens(deployment string) ([]*Token, error)
	tokenByHash(hash string) (*Token, error)
	deleteToken(id string) error
	deleteTokens(deployment string) error
	// shared: other processes use the store too (so changes made there
	// are seen by polling).
	shared() bool
	close()
}
