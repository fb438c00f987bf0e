// Command mailsift-rules is the rules example as a mailsift plugin: it
// reads its rules file and serves the analyzer until mailsift stops it.
//
//	mailsift-rules [-rules FILE]    (default: rules.yaml beside the executable)
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mailsift/mailsift/examples/plugins/rules"
	"github.com/mailsift/mailsift/plugins/sdk"
)

func main() {
	path := flag.String("rules", rules.DefaultPath(), "the rules file")
	flag.Parse()
	a, err := rules.Load(*path)
	if err != nil {
		// Before the handshake: mailsift shows this line in its error.
		fmt.Fprintln(os.Stderr, "mailsift-rules:", err)
		os.Exit(1)
	}
	sdk.Serve(a)
}
