# The load simulator and traffic tools: SIPp callers (real SIP into the sandbox), the demo,
# and (next) the virtual-time driver of the core.
