package main

import (
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// Splunk HEC indexer acknowledgement behind a load balancer without
// affinity: a forwarder's /ack poll reaches another replica than the one
// that took its events. With the metadata database the replicas share
// acknowledgements: ids are unique across them and the other replica
// reports the id true once the events are committed. The control: two
// replicas without it never do.
func TestHECAcksThroughTwoReplicas(t *testing.T) {
	harness.Servers(t)
	pgURL, _ := metafixture.New(t, pg, "ing_hec_shared")
	shared := map[string]string{contract.PostgresURL: pgURL}
	a, b := startWith(t, "ing_hec_replicas", shared), startWith(t, "ing_hec_replicas", shared)
	send := func(s *service, text string) float64 {
		t.Helper()
		h := map[string]string{"Authorization": "Splunk " + hecToken, "X-Splunk-Request-Channel": channelID}
		// The acknowledgement table may be migrated a moment after start.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			code, _, body := post(t, s.hec+"/services/collector/event", h, []byte(fmt.Sprintf(`{"event":%q}`, text)))
			if id, ok := body["ackId"].(float64); code == 200 && ok {
				return id
			}
			if time.Now().After(deadline) {
				t.Fatalf("event with a channel: %d %v", code, body)
			}
		}
	}
	acked := func(s *service, id float64, wait time.Duration) bool {
		t.Helper()
		h := map[string]string{"Authorization": "Splunk " + hecToken, "X-Splunk-Request-Channel": channelID}
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			code, _, body := post(t, s.hec+"/services/collector/ack", h, []byte(fmt.Sprintf(`{"acks":[%d]}`, int64(id))))
			acks, _ := body["acks"].(map[string]any)
			if code != 200 {
				t.Fatalf("ack: %d %v", code, body)
			}
			if acks[fmt.Sprint(int64(id))] == true {
				return true
			}
		}
		return false
	}
	idA, idB := send(a, "shared ack from a"), send(b, "shared ack from b")
	if idA == idB {
		t.Errorf("both replicas issued ack id %v on one channel", idA)
	}
	if !acked(b, idA, 15*time.Second) {
		t.Error("replica b never reported replica a's acknowledgement")
	}
	if n := b.count(t, "message = 'shared ack from a'"); n != 1 {
		t.Errorf("acknowledged with %d of 1 events stored", n)
	}
	if !acked(a, idB, 15*time.Second) {
		t.Error("replica a never reported replica b's acknowledgement")
	}

	c, d := start(t, "ing_hec_alone"), start(t, "ing_hec_alone")
	idC := send(c, "unshared ack")
	if acked(d, idC, 3*time.Second) {
		t.Error("without a shared store another replica reported the id: the control cannot tell")
	}
	if !acked(c, idC, 10*time.Second) {
		t.Error("the replica that took the events never reported them")
	}
}
