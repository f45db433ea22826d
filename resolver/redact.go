package resolver

import "strings"

// redactedUserinfo replaces the user information of a URI in messages.
const redactedUserinfo = "redacted"

// Redact returns uri with its user information (user name and password, as
// in http://user:pw@host/) replaced by "redacted", for error messages, logs
// and status output. It works on text that does not parse as a URL too
// (a bad setting is reported with Redact applied), and returns anything
// without user information unchanged. Every URI the resolver formats into
// an error or a log goes through it; so must the caller's.
func Redact(uri string) string {
	start := 0
	if i := strings.Index(uri, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(uri)
	if j := strings.IndexAny(uri[start:], "/?#"); j >= 0 {
		end = start + j
	}
	at := strings.LastIndexByte(uri[start:end], '@')
	if at < 0 {
		return uri
	}
	return uri[:start] + redactedUserinfo + uri[start+at:]
}
