/* SPDX-License-Identifier: MIT */
#pragma once

/* Stable MESSAGE_ID= values of the journal records an operator acts on
 * (journalctl MESSAGE_ID=...). Never change one; add new ones. */

#define MESSAGE_ID_STARTED        "b6c698692d794207bfdd08cc72bc81b5"
#define MESSAGE_ID_STOPPED        "1af95d77646f4e35a98c38b101c24ca8"
#define MESSAGE_ID_RENEWED        "2240c8e19fe143009cbcac427c0387e5"
#define MESSAGE_ID_RENEWAL_FAILED "faad1cbe13ef47f58daf7b58d61e2040"
#define MESSAGE_ID_EXPIRY_WARNING "4e38e8ff57d54bebb9587f021b1477ab"
#define MESSAGE_ID_EXPIRING_SOON  "5237f0b4055748a29b0977ebd4315ded"
#define MESSAGE_ID_EXPIRED        "f50d433bb9fe426f884832211cbbcb7f"
#define MESSAGE_ID_WRITE_FAILED   "c5c33c0bc2084b1198c3e846bbe035ee"
#define MESSAGE_ID_RELOADED       "789c5e40bd414e00b1bd9bc69cb78be1"
#define MESSAGE_ID_RELOAD_FAILED  "d561f5f4a73e4d90873249826145a411"
#define MESSAGE_ID_HOOK_FAILED    "e525d676025c4d82a0325b11ece275b4"
#define MESSAGE_ID_ADOPTED        "2b5a942c055e4f819fef8e6e9c1ea471"
#define MESSAGE_ID_KUBECONFIG_CHANGED "6934b0ccd6b94e62bdb96453ab97cdb6"
#define MESSAGE_ID_WATCH_UNAVAILABLE "18d25e6a6ef64adda3d546432e0ad2a8"
