// Package language tells the language of a message's own words (see
// analyzers/text), offline, from character n-gram statistics embedded in
// the binary. It is the analyzer `language` and the detector the sentiment
// and keywords analyzers use to pick their lexicons and stopwords.
package language
