package hec

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Shared acknowledgements let every ingest replica answer a forwarder's
// /ack poll, whichever replica took the events: behind a load balancer
// without affinity the poll reaches any of them (Splunk asks for sticky
// sessions; nano's clouds' L4 balancers cannot stick by channel). Ids come
// in blocks from PostgreSQL, so they are unique across replicas, and a
// committed id is recorded there.
type Shared interface {
	// NextBlock returns the first of blockSize fresh ids.
	NextBlock(ctx context.Context) (uint64, error)
	// Commit records ch's ids as committed.
	Commit(ctx context.Context, ch string, ids []uint64) error
	// Committed reports which of ch's ids another replica recorded.
	Committed(ctx context.Context, ch string, ids []uint64) (map[uint64]bool, error)
}

// blockSize is how many ids one NextBlock hands out.
const blockSize = 1024

// sharedKeep is how long a committed id stays answerable (Splunk's
// forwarders poll within minutes; channelIdle forgets local ones as soon).
const sharedKeep = channelIdle

// PGShared is Shared on the metadata database (table hec_acks, sequence
// hec_ack_blocks; metadb migration 4).
type PGShared struct {
	DB  *pgxpool.Pool
	Log *slog.Logger
}

// NextBlock implements Shared.
func (p *PGShared) NextBlock(ctx context.Context) (uint64, error) {
	var block int64
	if err := p.DB.QueryRow(ctx, `SELECT nextval('hec_ack_blocks')`).Scan(&block); err != nil {
		return 0, fmt.Errorf("cannot take acknowledgement ids: %w", err)
	}
	return uint64(block) * blockSize, nil
}

// Commit implements Shared; it also forgets ids older than sharedKeep.
func (p *PGShared) Commit(ctx context.Context, ch string, ids []uint64) error {
	if _, err := p.DB.Exec(ctx, `INSERT INTO hec_acks (channel, ack_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, ch, bigints(ids)); err != nil {
		return fmt.Errorf("cannot record acknowledgements: %w", err)
	}
	_, err := p.DB.Exec(ctx, `DELETE FROM hec_acks WHERE committed_at < now() - $1 * interval '1 second'`, int64(sharedKeep/time.Second))
	return err
}

// Committed implements Shared.
func (p *PGShared) Committed(ctx context.Context, ch string, ids []uint64) (map[uint64]bool, error) {
	rows, err := p.DB.Query(ctx, `SELECT ack_id FROM hec_acks WHERE channel = $1 AND ack_id = ANY($2::bigint[])`, ch, bigints(ids))
	if err != nil {
		return nil, fmt.Errorf("cannot read acknowledgements: %w", err)
	}
	defer rows.Close()
	out := map[uint64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[uint64(id)] = true
	}
	return out, rows.Err()
}

// bigints are ids as PostgreSQL's bigint (ids stay far below 2^63).
func bigints(ids []uint64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}

// sharedTimeout bounds one call to the shared store.
const sharedTimeout = 5 * time.Second

// commitQueue is how many committed ids wait to be recorded; past it an id
// is answered only by its own replica (a forwarder polling another one
// times out and resends: stored twice, never lost).
const commitQueue = 10_000

type committed struct {
	ch string
	id uint64
}

// record writes committed ids to the shared store, a batch per channel,
// until ctx ends.
func (a *acks) record(ctx context.Context) {
	for {
		var batch []committed
		select {
		case <-ctx.Done():
			return
		case c := <-a.commits:
			batch = append(batch, c)
		}
	drain:
		for len(batch) < 1000 {
			select {
			case c := <-a.commits:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		byChannel := map[string][]uint64{}
		for _, c := range batch {
			byChannel[c.ch] = append(byChannel[c.ch], c.id)
		}
		for ch, ids := range byChannel {
			cctx, cancel := context.WithTimeout(ctx, sharedTimeout)
			if err := a.shared.Commit(cctx, ch, ids); err != nil && a.log != nil {
				a.log.Warn("HEC acknowledgements not shared: other replicas will not report them", "ids", len(ids), "error", err)
			}
			cancel()
		}
	}
}
