@_exported public import PrefixCompute
@_exported public import PrefixConvert
// The library product: everything a user of PrefixKit needs, from one import.
@_exported public import PrefixCore
@_exported public import PrefixDiff
@_exported public import PrefixFormats
@_exported public import PrefixReport
@_exported public import PrefixRuntime
@_exported public import PrefixStore
@_exported public import PrefixStoreRules
@_exported public import PrefixVerify
