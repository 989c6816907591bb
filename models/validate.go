package models

import "github.com/herald-hq/herald/models/text"

// Lengths of the texts mutations take, in characters (README "Limits"). Webhook names and
// descriptions have their own (webhook.MaxWebhookNameChars, webhook.MaxWebhookDescriptionChars),
// e-mail addresses text.MaxEmailChars.
const (
	MaxNameChars        = 200   // team, service, user, API token and integration names
	MaxTitleChars       = 500   // incident titles
	MaxDescriptionChars = 65536 // incident descriptions
)

// CheckLine is the rule for one line of text given to a mutation (a name, a title): text.Line.
// It returns VALIDATION naming the field, or nil.
func CheckLine(field, s string, max int) error {
	return invalidInput(text.Line(field, s, max))
}

// CheckText is CheckLine for text of several lines (a description): text.Lines. It returns
// VALIDATION naming the field, or nil.
func CheckText(field, s string, max int) error {
	return invalidInput(text.Lines(field, s, max))
}

// CheckEmail is the rule for an e-mail address given to a mutation: text.Email. It returns
// VALIDATION naming the field, or nil.
func CheckEmail(field, s string) error {
	return invalidInput(text.Email(field, s))
}
