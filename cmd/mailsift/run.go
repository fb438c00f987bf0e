package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/ingest"
	"github.com/mailsift/mailsift/pipeline"
	"github.com/mailsift/mailsift/report"
)

var allRoles = []string{"ingest", "analyze", "report"}

func newRunCmd() *cobra.Command {
	var (
		cfgPath string
		roles   []string
		once    bool
	)
	cmd := &cobra.Command{
		Use:   "run [-c mailsift.yaml] [--roles ingest,analyze,report] [--once]",
		Short: "Run the service: poll mailboxes, analyze, report",
		Long: `run is the service. With no nats.url in the config it starts an embedded
NATS server and runs every role in this process. On a NATS cluster, run
each role in as many processes as needed: workers of one analyzer share its
durable consumer, so adding processes adds throughput.

Roles: ingest (poll the mailboxes), analyze (run the analyzers), report
(join results into reports and feed the outputs).

--once polls every mailbox once and exits when every fetched message is
reported (or, without the report role, when it is on JetStream).`,
		Example: `  mailsift run -c mailsift.yaml
  mailsift run -c mailsift.yaml --once
  mailsift run -c cluster.yaml --roles analyze   # one more worker process`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadFile(cfgPath)
			if err != nil {
				return err
			}
			verbose, _ := cmd.Flags().GetBool("verbose")
			log, err := newLogger(f.Log, verbose)
			if err != nil {
				return err
			}
			rs, err := parseRoles(roles)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), f, serveOptions{roles: rs, once: once, log: log, stdout: cmd.OutOrStdout()})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailsift.yaml", "config file")
	cmd.Flags().StringSliceVar(&roles, "roles", allRoles, "roles this process runs: ingest, analyze, report")
	cmd.Flags().BoolVar(&once, "once", false, "poll every mailbox once and exit when all fetched mail is reported")
	return cmd
}

func parseRoles(roles []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, r := range roles {
		r = strings.TrimSpace(r)
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("--roles: unknown role %q (want %s)", r, strings.Join(allRoles, ", "))
		}
		out[r] = true
	}
	if len(out) == 0 {
		return nil, errors.New("--roles: no role given")
	}
	return out, nil
}

type serveOptions struct {
	roles  map[string]bool
	once   bool
	log    *slog.Logger
	stdout io.Writer
	// onReport, when set, sees every report stored from the start of this
	// run (the demo prints them). With once, serve returns after the
	// reports of all fetched mail were seen.
	onReport func(*report.Report)
	// expect, when above zero, makes a once run wait for that many reports
	// even if the mail was already on the stream from an earlier run.
	expect int
}

// serve wires the roles of one process together and runs them until ctx
// ends, or, with once, until the mail fetched is reported.
func serve(ctx context.Context, f *File, o serveOptions) error {
	log := o.log
	if o.roles["ingest"] && len(f.Mailboxes) == 0 {
		return errors.New("config: no mailboxes configured (see examples/mailsift.yaml)")
	}
	set, err := buildAnalyzers(f, nil, false)
	if err != nil {
		return err
	}
	defer set.Close()

	conn, err := pipeline.Connect(ctx, f.NATS, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Setup(ctx, set.names(), f.Worker); err != nil {
		return err
	}
	if o.roles["analyze"] {
		if err := set.attach(ctx, conn.State()); err != nil {
			return err
		}
	}
	log.Info("mailsift started", "nats", describeNATS(conn), "roles", roleList(o.roles), "analyzers", set.names(), "mailboxes", len(f.Mailboxes))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(runCtx); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	reg := pipeline.NewRegistry()
	pm := pipeline.NewMetrics(reg)
	im := ingest.NewMetrics(reg)
	reg.MustRegister(conn.QueueCollector(set.names()))
	if f.Metrics.Listen != "" {
		goRun("metrics", func(ctx context.Context) error { return conn.ServeHTTP(ctx, f.Metrics.Listen, reg, log) })
	}

	if o.roles["analyze"] {
		w := pipeline.NewWorker(conn, f.Worker, set.list, pm, log)
		goRun("worker", w.Run)
	}
	if o.roles["report"] {
		rep := pipeline.NewReporter(conn, f.Reporter, set.names(), set.security, pm, log)
		goRun("reporter", rep.Run)
		for _, oc := range f.Outputs {
			out, err := pipeline.NewOutput(oc, o.stdout)
			if err != nil {
				return err
			}
			defer out.Close()
			goRun("output "+oc.ConsumerName(), func(ctx context.Context) error { return conn.RunOutput(ctx, oc, out, log) })
		}
	}

	// Reports are followed from before the first poll, so none is missed.
	var seen *reportWaiter
	if o.onReport != nil || (o.once && o.roles["report"]) {
		seen = newReportWaiter(o.onReport)
		started := time.Now().Add(-time.Second)
		ready := make(chan struct{})
		goRun("follow", func(ctx context.Context) error {
			close(ready)
			return conn.Follow(ctx, pipeline.FollowOptions{Since: started}, seen.see)
		})
		<-ready
	}

	if !o.roles["ingest"] {
		select {
		case <-runCtx.Done():
		case err := <-errc:
			return err
		}
		return firstErr(errc)
	}

	state, err := conn.JS.KeyValue(ctx, pipeline.BucketUIDL)
	if err != nil {
		return fmt.Errorf("nats: kv %s: %w", pipeline.BucketUIDL, err)
	}
	poller := ingest.NewPoller(conn, state, f.Mailboxes, im, log)
	if !o.once {
		goRun("ingest", poller.Run)
		select {
		case <-runCtx.Done():
		case err := <-errc:
			return err
		}
		log.Info("mailsift stopping")
		return firstErr(errc)
	}

	stats, err := poller.Once(runCtx)
	var ids []string
	for _, st := range stats {
		log.Info("poll done", "mailbox", st.Mailbox, "listed", st.Listed, "fetched", st.Fetched,
			"published", len(st.Published), "duplicates", st.Duplicates, "deleted", st.Deleted, "skipped", st.Skipped)
		ids = append(ids, st.Published...)
	}
	if err != nil {
		return err
	}
	if seen == nil {
		return nil
	}
	want := max(len(ids), o.expect)
	log.Info("waiting for reports", "messages", want)
	select {
	case <-seen.wait(ids, want):
		// Every report is stored; let the outputs take them before leaving.
		return conn.WaitOutputs(ctx, f.Outputs)
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func firstErr(errc chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func describeNATS(c *pipeline.Conn) string {
	if c.Embedded() {
		return "embedded"
	}
	return c.ClientURL()
}

func roleList(roles map[string]bool) string {
	var out []string
	for _, r := range allRoles {
		if roles[r] {
			out = append(out, r)
		}
	}
	return strings.Join(out, ",")
}

// reportWaiter watches reports go by and says when a set of them was seen.
type reportWaiter struct {
	mu       sync.Mutex
	seen     map[string]bool
	onReport func(*report.Report)
	changed  chan struct{}
}

func newReportWaiter(on func(*report.Report)) *reportWaiter {
	return &reportWaiter{seen: map[string]bool{}, onReport: on, changed: make(chan struct{}, 1)}
}

func (w *reportWaiter) see(r *report.Report, _ []byte) error {
	w.mu.Lock()
	dup := w.seen[r.ID]
	w.seen[r.ID] = true
	w.mu.Unlock()
	if !dup && w.onReport != nil {
		w.onReport(r)
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return nil
}

// wait closes the returned channel once every id was seen and at least n
// reports in all.
func (w *reportWaiter) wait(ids []string, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for {
			w.mu.Lock()
			ok := len(w.seen) >= n
			for _, id := range ids {
				ok = ok && w.seen[id]
			}
			w.mu.Unlock()
			if ok {
				close(done)
				return
			}
			<-w.changed
		}
	}()
	return done
}
