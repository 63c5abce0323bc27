; repoqa tag queries for Python.
; Captures: @definition.<kind> spans a definition and @name names it; @doc is its
; docstring. @reference.<kind> spans a use, @name is the name used, @scope what it
; was reached through (obj in obj.m()), @module an import's source, @alias its local name.

(class_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc)?)) @definition.class

(function_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc)?)) @definition.function

(module
  (expression_statement
    (assignment left: (identifier) @name)) @definition.variable)

; module-level names bound under `if TYPE_CHECKING:` / `if sys.version_info ...` / `try:
; import x except ImportError: x = None`: still the module's names
(module (if_statement consequence: (block
  (expression_statement (assignment left: (identifier) @name)) @definition.variable)))
(module (if_statement alternative: (else_clause body: (block
  (expression_statement (assignment left: (identifier) @name)) @definition.variable))))
(module (try_statement body: (block
  (expression_statement (assignment left: (identifier) @name)) @definition.variable)))
(module (try_statement (except_clause (block
  (expression_statement (assignment left: (identifier) @name)) @definition.variable))))

(class_definition
  body: (block
    (expression_statement
      (assignment left: (identifier) @name)) @definition.field))

; calls: f(), obj.m(), pkg.mod.f()
(call function: (identifier) @name) @reference.call
(call function: (attribute object: (_) @scope attribute: (identifier) @name)) @reference.call

; imports
(import_statement name: (dotted_name) @name) @reference.import
(import_statement name: (aliased_import name: (dotted_name) @name alias: (identifier) @alias)) @reference.import
(import_from_statement module_name: (_) @module name: (dotted_name) @name) @reference.import
(import_from_statement module_name: (_) @module name: (aliased_import name: (dotted_name) @name alias: (identifier) @alias)) @reference.import
(import_from_statement module_name: (_) @module (wildcard_import) @name) @reference.import

; inheritance
(class_definition superclasses: (argument_list [(identifier) (attribute)] @name)) @reference.inherit

; type uses in annotations
(type [(identifier) (attribute)] @name) @reference.type
(type (generic_type (identifier) @name)) @reference.type
(type (subscript value: [(identifier) (attribute)] @name)) @reference.type

; decorators are calls of a kind
(decorator [(identifier) (attribute)] @name) @reference.call
