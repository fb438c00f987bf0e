# mailsift: `make demo` shows it working, `make test` proves it.

GO       ?= go
BIN      := bin/mailsift
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build demo test test-deps vet unit bench bench-ingest eval eval-phishing fuzz proto clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mailsift

# Everything embedded: a POP3 server over examples/mail, NATS, ingest, the
# local analyzers and the reporter; prints one row per sample and exits.
demo: build
	./$(BIN) demo

# Installs missing test dependencies (as root, from Debian's packages), then
# vets and runs every test against real servers.
test: test-deps vet unit

test-deps:
	./scripts/install-test-deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# POP3 ingest into JetStream beside fetchmail, mpop and a raw RETR loop,
# from a private Dovecot (as root; see bench/ingest.sh).
bench-ingest:
	./bench/ingest.sh

# Measures the text analyzers (sentiment, keywords, language) against the
# published figures, on the evaluation corpora beside the project (read in
# place, never copied); prints the tables of docs/benchmarks.md.
CORPORA ?= ../shared/corpora
eval:
	$(GO) run ./eval -corpora $(CORPORA)
	$(GO) test -run '^$$' -bench TextAnalyzers -benchmem -cpu 1 -count 3 ./eval

# Regenerates the plugin contract's committed Go and Python code from
# plugins/proto (Debian's protoc; the Go generators are tools in go.mod).
proto:
	./scripts/gen-proto.sh

clean:
	rm -rf bin

# Phishing detection over real phishing and clean mail (issue 6), read in
# place from the corpora beside the project; prints the table of
# docs/benchmarks.md.
PHISH = $(CORPORA)/email
eval-phishing:
	MAILSIFT_EVAL_PHISHING=$(PHISH)/phishing_pot-sample/phishing_pot_sample.tar.gz \
	MAILSIFT_EVAL_HAM=$(PHISH)/fixtures/spamassassin-tdata/nice:$(PHISH)/fixtures/spamassassin-tdata/nice.mbox:$(PHISH)/fixtures/spamassassin-tdata/sample-nonspam.txt:$(PHISH)/fixtures/spamassassin-tdata/dkim:$(PHISH)/fixtures/mikel-mail:$(PHISH)/fixtures/enmime/testdata/mail:$(PHISH)/fixtures/enmime/testdata/low-quality:$(PHISH)/fixtures/enmime/dsn:$(PHISH)/fixtures/mimekit/messages:$(PHISH)/fixtures/mimekit/mbox/content-length.mbox.txt:$(PHISH)/fixtures/mimekit/mbox/issue1189.mbox.txt:$(PHISH)/fixtures/mimekit/mbox/simple.mbox.txt:$(PHISH)/fixtures/mimekit/mbox/unmunged.mbox.txt:$(PHISH)/fixtures/nodemailer-mailparser \
	$(GO) test -tags eval ./analyzers/phishing -run TestEvalCorpus -v -count=1
