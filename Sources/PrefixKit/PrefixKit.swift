// The library product: everything a user of PrefixKit needs, from one import.
@_exported public import PrefixCore
@_exported public import PrefixStore
@_exported public import PrefixCompute
@_exported public import PrefixFormats
@_exported public import PrefixConvert
@_exported public import PrefixVerify
@_exported public import PrefixDiff
@_exported public import PrefixReport
