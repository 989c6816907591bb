package render

import (
	"fmt"
	"strings"
	"testing"
)

func BenchmarkRenderSeedConditional(b *testing.B) {
	tmpl := mustParse(b, seedPayload)
	d := testData()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = tmpl.AppendRender(buf[:0], &d, JSON)
	}
}

func BenchmarkRenderBodySeedConditional(b *testing.B) {
	tmpl := mustParse(b, seedPayload)
	d := testData()
	b.ReportAllocs()
	for b.Loop() {
		RenderBody(tmpl, &d, JSON)
	}
}

func BenchmarkEnvelope(b *testing.B) {
	d := testData()
	extra := []KV{{"region", "eu-west-1"}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEnvelope(buf[:0], &d, extra)
	}
}

func BenchmarkEnvelopeBody(b *testing.B) {
	d := testData()
	extra := []KV{{"region", "eu-west-1"}}
	b.ReportAllocs()
	for b.Loop() {
		EnvelopeBody(&d, extra)
	}
}

func BenchmarkQueryString(b *testing.B) {
	d := testData()
	params := []QueryParam{{Name: "title", Value: mustParse(b, "{{incident.title}}")}, {Name: "urgency", Value: mustParse(b, seedPayload)}}
	b.ReportAllocs()
	for b.Loop() {
		QueryString(params, &d)
	}
}

func BenchmarkParseSeed(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Parse(seedPayload)
	}
}

func BenchmarkCacheGet(b *testing.B) {
	c := NewCache(128)
	c.Get("wh:1:body", seedPayload)
	b.ReportAllocs()
	for b.Loop() {
		c.Get("wh:1:body", seedPayload)
	}
}

// BenchmarkPreviewPlaceholders renders the preview of templates made of placeholders outside
// any JSON string (one warning each), up to the largest a webhook may have (64 KiB) and beyond
// (1 MiB, the request limit), to show that the cost grows linearly with the template.
func BenchmarkPreviewPlaceholders(b *testing.B) {
	d := testData()
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		in := PreviewInput{BodyTemplate: strings.Repeat("{{user}}", size/len("{{user}}")), ContentType: JSON}
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Preview(in, &d)
			}
		})
	}
}
