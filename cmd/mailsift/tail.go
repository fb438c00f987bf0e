package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailsift/mailsift/pipeline"
	"github.com/mailsift/mailsift/report"
)

func newTailCmd() *cobra.Command {
	var (
		cfgPath string
		verdict string
		asJSON  bool
		since   time.Duration
		all     bool
		count   int
	)
	cmd := &cobra.Command{
		Use:   "tail [-c mailsift.yaml] [--verdict V] [--json] [--since 1h | --all]",
		Short: "Follow reports as they are written",
		Long: `tail prints reports from the REPORTS stream as they are stored, as a table
or as JSON lines. It keeps no state on the server; stop it at any time.

With an embedded NATS (no nats.url), tail must run while no other mailsift
process uses the same store_dir; set nats.listen on the service and point
tail's nats.url at it to follow a running service.`,
		Example: `  mailsift tail -c mailsift.yaml
  mailsift tail -c mailsift.yaml --verdict malicious --json | jq .subject
  mailsift tail -c mailsift.yaml --since 24h
  mailsift tail -c mailsift.yaml --all --count 10`,
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
			switch verdict {
			case "", "clean", "suspicious", "malicious", "unknown":
			default:
				return fmt.Errorf("--verdict %q: want clean, suspicious, malicious or unknown", verdict)
			}
			conn, err := pipeline.Connect(cmd.Context(), f.NATS, log)
			if err != nil {
				return err
			}
			defer conn.Close()
			o := pipeline.FollowOptions{Verdict: verdict, All: all}
			if since > 0 {
				o.Since = time.Now().Add(-since)
			}
			out := cmd.OutOrStdout()
			tab := report.NewTable(out)
			seen := 0
			err = conn.Follow(cmd.Context(), o, func(r *report.Report, raw []byte) error {
				var err error
				if asJSON {
					_, err = fmt.Fprintf(out, "%s\n", bytes.TrimSpace(raw))
				} else {
					err = tab.Write(r)
				}
				if seen++; err == nil && count > 0 && seen >= count {
					return pipeline.ErrStop
				}
				return err
			})
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mailsift.yaml", "config file")
	cmd.Flags().StringVar(&verdict, "verdict", "", "only reports with this verdict")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print reports as JSON lines")
	cmd.Flags().DurationVar(&since, "since", 0, "first replay reports stored this long ago")
	cmd.Flags().BoolVar(&all, "all", false, "first replay every stored report")
	cmd.Flags().IntVarP(&count, "count", "n", 0, "exit after this many reports (0: follow until interrupted)")
	return cmd
}
