package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-monitoring/vigil/storage"
	"github.com/vigil-monitoring/vigil/storage/ingest"
)

// pushgatewayFile holds the pushed groups between runs, as the
// Pushgateway's --persistence.file does.
const pushgatewayFile = "pushgateway.json"

// pushSaveEvery bounds what a crash can lose of the pushed groups.
const pushSaveEvery = time.Minute

// pushgateway writes the pushed groups into storage on every tick and
// saves them to disk now and then and at stop.
type pushgateway struct {
	groups *ingest.Groups
	st     *storage.Storage
	path   string
	every  time.Duration
	log    *slog.Logger

	stop context.CancelFunc
	done sync.WaitGroup
}

func startPushgateway(cfg Config, st *storage.Storage, log *slog.Logger) (*pushgateway, error) {
	path := filepath.Join(cfg.DataDir, pushgatewayFile)
	groups, err := ingest.LoadGroups(path, ingest.GroupsOptions{TTL: cfg.Pushgateway.GroupTTL.Std()})
	if err != nil {
		return nil, fmt.Errorf("cannot load the pushed groups from %s: %w (move the file away to start without them)", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pushgateway{groups: groups, st: st, path: path, every: cfg.Pushgateway.Interval.Std(), log: log.With("component", "pushgateway"), stop: cancel}
	p.done.Add(1)
	go p.run(ctx)
	return p, nil
}

func (p *pushgateway) run(ctx context.Context) {
	defer p.done.Done()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	lastSave := time.Now()
	var rows storage.Rows
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			rows.Reset()
			p.groups.AppendTo(&rows, now.UnixMilli())
			if err := p.st.Append(&rows); err != nil {
				p.log.Warn("cannot store the pushed groups", "err", err)
			}
			if now.Sub(lastSave) >= pushSaveEvery {
				p.save()
				lastSave = now
			}
		}
	}
}

func (p *pushgateway) save() {
	if err := p.groups.Save(p.path); err != nil {
		p.log.Warn("cannot save the pushed groups; they will be lost on restart", "file", p.path, "err", err)
	}
}

// close stops the ticks and saves the groups one last time.
func (p *pushgateway) close() {
	p.stop()
	p.done.Wait()
	p.save()
}
