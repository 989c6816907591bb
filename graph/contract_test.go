package graph

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestSchemaHoldsContract checks that schema.graphqls keeps every name of the fixed contract
// with identical field, argument and input types, and every enum value.
func TestSchemaHoldsContract(t *testing.T) {
	contractPath := filepath.Join("..", "..", "shared", "contract.graphqls")
	contractSrc, err := os.ReadFile(contractPath)
	if err != nil {
		t.Skipf("contract not found at %s (shared/ sits beside the checkout): %v", contractPath, err)
	}
	ourSrc, err := os.ReadFile(filepath.Join("..", "schema.graphqls"))
	if err != nil {
		t.Fatal(err)
	}
	contract, gerr := gqlparser.LoadSchema(&ast.Source{Name: "contract.graphqls", Input: string(contractSrc)})
	if gerr != nil {
		t.Fatalf("parse contract: %v", gerr)
	}
	ours, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(ourSrc)})
	if gerr != nil {
		t.Fatalf("parse schema: %v", gerr)
	}
	for name, want := range contract.Types {
		if want.BuiltIn {
			continue
		}
		got, ok := ours.Types[name]
		if !ok {
			t.Errorf("type %s is missing", name)
			continue
		}
		if got.Kind != want.Kind {
			t.Errorf("type %s is %s, contract says %s", name, got.Kind, want.Kind)
		}
		for _, v := range want.EnumValues {
			if got.EnumValues.ForName(v.Name) == nil {
				t.Errorf("enum %s lacks value %s", name, v.Name)
			}
		}
		for _, wf := range want.Fields {
			gf := got.Fields.ForName(wf.Name)
			if gf == nil {
				t.Errorf("%s.%s is missing", name, wf.Name)
				continue
			}
			if gf.Type.String() != wf.Type.String() {
				t.Errorf("%s.%s is %s, contract says %s", name, wf.Name, gf.Type, wf.Type)
			}
			if wf.DefaultValue != nil && (gf.DefaultValue == nil || gf.DefaultValue.String() != wf.DefaultValue.String()) {
				t.Errorf("%s.%s default differs from the contract's %s", name, wf.Name, wf.DefaultValue)
			}
			for _, wa := range wf.Arguments {
				ga := gf.Arguments.ForName(wa.Name)
				if ga == nil {
					t.Errorf("%s.%s(%s) is missing", name, wf.Name, wa.Name)
					continue
				}
				if ga.Type.String() != wa.Type.String() {
					t.Errorf("%s.%s(%s) is %s, contract says %s", name, wf.Name, wa.Name, ga.Type, wa.Type)
				}
				if wa.DefaultValue != nil && (ga.DefaultValue == nil || ga.DefaultValue.String() != wa.DefaultValue.String()) {
					t.Errorf("%s.%s(%s) default differs from the contract's %s", name, wf.Name, wa.Name, wa.DefaultValue)
				}
			}
			for _, ga := range gf.Arguments {
				if wf.Arguments.ForName(ga.Name) == nil && ga.Type.NonNull && ga.DefaultValue == nil {
					t.Errorf("%s.%s adds required argument %s", name, wf.Name, ga.Name)
				}
			}
		}
		if want.Kind == ast.InputObject {
			for _, gf := range got.Fields {
				if want.Fields.ForName(gf.Name) == nil && gf.Type.NonNull && gf.DefaultValue == nil {
					t.Errorf("input %s adds required field %s", name, gf.Name)
				}
			}
		}
	}
}
