package analyzers

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ScoreTable returns an analyzer's symbol scores: its defaults with the
// config's overrides applied. An override for a symbol the analyzer does
// not have is an error, so a typo in the config is not silently ignored.
func ScoreTable(defaults, overrides map[string]float64) (map[string]float64, error) {
	scores := maps.Clone(defaults)
	for name, v := range overrides {
		if _, ok := scores[name]; !ok {
			return nil, fmt.Errorf("scores: unknown symbol %q (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(defaults)), ", "))
		}
		scores[name] = v
	}
	return scores, nil
}

// ScoreVerdict turns an analyzer's summed score into its verdict by its
// thresholds; a threshold of 0 is off.
func ScoreVerdict(score, suspicious, malicious float64) Verdict {
	switch {
	case malicious > 0 && score >= malicious:
		return VerdictMalicious
	case suspicious > 0 && score >= suspicious:
		return VerdictSuspicious
	}
	return VerdictClean
}

// Configured adapts an analyzer's typed constructor to Registration.New:
// the options are decoded over the analyzer's defaults, then build runs.
func Configured[C any](defaults func() C, build func(C) (Analyzer, error)) func(Options) (Analyzer, error) {
	return func(opts Options) (Analyzer, error) {
		cfg := defaults()
		if opts != nil {
			if err := opts.Decode(&cfg); err != nil {
				return nil, err
			}
		}
		return build(cfg)
	}
}
