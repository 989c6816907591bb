package webhook

import "testing"

// TestHideCredentials checks the forms a credential is hidden in when a receiver sends it
// back, and that a short one hides nothing (it would corrupt ordinary text).
func TestHideCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		credential, response, want string
	}{
		{"s3cret/pa+ss word", `{"auth":"s3cret/pa+ss word"}`, `{"auth":"[redacted]"}`},
		{"s3cret/pa+ss word", "q=s3cret%2Fpa%2Bss+word&x=1", "q=[redacted]&x=1"},
		{"s3cret/pa+ss word", `{"php":"s3cret\/pa+ss word"}`, `{"php":"[redacted]"}`},
		{`k<y"12345`, `{"node":"k<y\"12345"}`, `{"node":"[redacted]"}`},
		{`k<y"12345`, `{"go":"k\u003cy\"12345"}`, `{"go":"[redacted]"}`},
		{"päss-1234", `{"python":"p\u00e4ss-1234"}`, `{"python":"[redacted]"}`},
		{"2024", "Date: Tue, 01 Jan 2024; id 20241", "Date: Tue, 01 Jan 2024; id 20241"},
	} {
		var r Request
		r.addEchoes(tc.credential)
		if got := r.HideCredentials(tc.response); got != tc.want {
			t.Errorf("%q in %q: got %q, want %q", tc.credential, tc.response, got, tc.want)
		}
	}
}

// TestHideCredentialStart checks that a body cut inside a credential, in any of its forms,
// hides the start of it it ends with, and leaves other endings alone.
func TestHideCredentialStart(t *testing.T) {
	t.Parallel()
	var r Request
	r.addEchoes("supersecret/1")
	for body, want := range map[string]string{
		"abc supersecret":   "abc [redacted]",
		"abc supersecret%2": "abc [redacted]",
		"abc nothing":       "abc nothing",
	} {
		if got := r.HideCredentialStart(body); got != want {
			t.Errorf("%q: got %q, want %q", body, got, want)
		}
	}
}
