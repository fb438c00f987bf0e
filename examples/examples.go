// Package examples carries the sample mail corpus inside the binary, so
// `mailsift demo` works from any directory.
package examples

import "embed"

// Mail holds examples/mail: the sample messages and their README.
//
//go:embed mail
var Mail embed.FS
