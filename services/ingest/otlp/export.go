package otlp

import (
	"context"
	"fmt"
	"strings"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// Protocol is the intake's name of both OTLP transports (metrics, and the
// feed kind whose tokens they take).
const Protocol = "otlp"

// authenticate finds the identity of an "Authorization: Bearer <token>"
// value; msg says why it is refused (forbidden: a valid token of a feed
// that does not send OTLP).
func authenticate(in *intake.Intake, authorization string) (id tokens.Identity, forbidden bool, msg string) {
	token, ok := strings.CutPrefix(strings.TrimSpace(authorization), "Bearer ")
	id, found := in.Tokens.Lookup(strings.TrimSpace(token))
	if !ok || !found {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonUnauthorized).Inc()
		return id, false, "a valid ingest token is required: Authorization: Bearer <token>"
	}
	if !id.Accepts(Protocol) {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonUnauthorized).Inc()
		return id, true, "this token belongs to a " + id.Kind + " feed; send its events to " + tokens.PortFor(id.Kind)
	}
	return id, false, ""
}

// tooMany is the refusal of a request with more records than l allows.
func tooMany(in *intake.Intake, n int) string {
	in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonTooLarge).Inc()
	return fmt.Sprintf("the request holds %d log records, more than %d; send smaller batches (the exporter's batch size)", n, in.Limits.MaxEvents)
}

// export admits evs for id and commits them, waiting for the commit: the
// one path of both transports through the intake.
func export(ctx context.Context, in *intake.Intake, id tokens.Identity, evs []events.Event) intake.Admission {
	intake.Stamp(evs, id)
	adm := in.Admit(id, evs)
	if adm.Outcome == intake.OK {
		adm, _ = in.Write(ctx, adm, evs)
	}
	return adm
}

// warning is the partial-success message of an accepted request ("": none).
func warning(adm intake.Admission) string {
	if n := adm.Clamped.Total(); n > 0 {
		return fmt.Sprintf("%d log records dated outside the accepted window were stored at their arrival time; their own time is in the attribute %s", n, intake.OriginalTimeAttr)
	}
	return ""
}
