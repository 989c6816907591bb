package payload

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultLanguage is the language of generated titles when none is configured.
const DefaultLanguage = "en"

// titles holds the generated incident and request titles of one language; the %s verbs take
// the alert source.
type titles struct {
	incidentFrom, incidentUnknown, requestFrom, requestUnknown string
}

var languageTitles = map[string]titles{
	"en": {"Incident from %s", "Incident from unknown source", "Request from %s", "Request from unknown source"},
	"de": {"Vorfall von %s", "Vorfall aus unbekannter Quelle", "Anfrage von %s", "Anfrage aus unbekannter Quelle"},
	"fr": {"Incident provenant de %s", "Incident de source inconnue", "Demande provenant de %s", "Demande de source inconnue"},
	"es": {"Incidente de %s", "Incidente de origen desconocido", "Solicitud de %s", "Solicitud de origen desconocido"},
	"it": {"Incidente da %s", "Incidente da fonte sconosciuta", "Richiesta da %s", "Richiesta da fonte sconosciuta"},
	"pt": {"Incidente de %s", "Incidente de origem desconhecida", "Solicitação de %s", "Solicitação de origem desconhecida"},
	"nl": {"Incident van %s", "Incident van onbekende bron", "Verzoek van %s", "Verzoek van onbekende bron"},
	"sv": {"Incident från %s", "Incident från okänd källa", "Begäran från %s", "Begäran från okänd källa"},
	"da": {"Hændelse fra %s", "Hændelse fra ukendt kilde", "Anmodning fra %s", "Anmodning fra ukendt kilde"},
	"nb": {"Hendelse fra %s", "Hendelse fra ukjent kilde", "Forespørsel fra %s", "Forespørsel fra ukjent kilde"},
	"fi": {"Häiriö lähteestä %s", "Häiriö tuntemattomasta lähteestä", "Pyyntö lähteestä %s", "Pyyntö tuntemattomasta lähteestä"},
	"pl": {"Incydent z %s", "Incydent z nieznanego źródła", "Zgłoszenie z %s", "Zgłoszenie z nieznanego źródła"},
	"cs": {"Incident z %s", "Incident z neznámého zdroje", "Požadavek z %s", "Požadavek z neznámého zdroje"},
	"ru": {"Инцидент от %s", "Инцидент из неизвестного источника", "Запрос от %s", "Запрос из неизвестного источника"},
	"uk": {"Інцидент від %s", "Інцидент з невідомого джерела", "Запит від %s", "Запит з невідомого джерела"},
	"tr": {"%s kaynaklı olay", "Bilinmeyen kaynaktan olay", "%s kaynaklı talep", "Bilinmeyen kaynaktan talep"},
	"ja": {"%s からのインシデント", "不明なソースからのインシデント", "%s からのリクエスト", "不明なソースからのリクエスト"},
	"ko": {"%s의 인시던트", "알 수 없는 소스의 인시던트", "%s의 요청", "알 수 없는 소스의 요청"},
	"zh": {"来自 %s 的事件", "来自未知来源的事件", "来自 %s 的请求", "来自未知来源的请求"},
	"hi": {"%s से घटना", "अज्ञात स्रोत से घटना", "%s से अनुरोध", "अज्ञात स्रोत से अनुरोध"},
	"ar": {"حادثة من %s", "حادثة من مصدر غير معروف", "طلب من %s", "طلب من مصدر غير معروف"},
	"id": {"Insiden dari %s", "Insiden dari sumber tidak dikenal", "Permintaan dari %s", "Permintaan dari sumber tidak dikenal"},
}

// Languages returns the codes accepted by HERALD_LANGUAGE, sorted.
func Languages() []string {
	out := make([]string, 0, len(languageTitles))
	for code := range languageTitles {
		out = append(out, code)
	}
	slices.Sort(out)
	return out
}

// ValidLanguage reports whether code (case-insensitive) is one of Languages.
func ValidLanguage(code string) bool {
	_, ok := languageTitles[strings.ToLower(strings.TrimSpace(code))]
	return ok
}

// titlesFor returns the titles of a language, English for an unknown code.
func titlesFor(lang string) titles {
	if t, ok := languageTitles[strings.ToLower(strings.TrimSpace(lang))]; ok {
		return t
	}
	return languageTitles[DefaultLanguage]
}

// GeneratedIncidentTitle returns "Incident from SOURCE" in the language, or "Incident from
// unknown source" when source is empty.
func GeneratedIncidentTitle(lang, source string) string {
	t := titlesFor(lang)
	if source == "" {
		return t.incidentUnknown
	}
	return fmt.Sprintf(t.incidentFrom, source)
}

// GeneratedRequestTitle returns "Request from SOURCE" in the language, or "Request from
// unknown source" when source is empty.
func GeneratedRequestTitle(lang, source string) string {
	t := titlesFor(lang)
	if source == "" {
		return t.requestUnknown
	}
	return fmt.Sprintf(t.requestFrom, source)
}
