"""Builds tf2_msgs (TFMessage) into a ROS 2 prefix, with the rosidl generators of that prefix.

The ros-* wheels have no tf2_msgs, so rcl has no type support for /tf and /tf_static. This does
what ament_cmake's rosidl_generate_interfaces does for one message, with the generators that are
among the wheels: the C message code (rosidl_generator_c, including the RIHS01 type description),
the C type-support dispatcher (rosidl_typesupport_c), Fast DDS's C type support
(rosidl_typesupport_fastrtps_c) and the introspection type support r2r reads
(rosidl_typesupport_introspection_c); it compiles each into the library its name says, installs
the headers, the .msg/.idl/.json and the ament index entries.

Usage: python scripts/ros2_tf2_msgs.py PREFIX MSG_DIR   (run by scripts/ros2-env.sh with the
prefix's own Python; MSG_DIR holds msg/TFMessage.msg). Idempotent: does nothing when the
installed libraries are newer than the .msg.
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

from rosidl_generator_c.cli import GenerateC
from rosidl_typesupport_c.cli import GenerateCTypesupport
from rosidl_typesupport_fastrtps_c.cli import GenerateFastRTPSCTypesupport
from rosidl_typesupport_introspection_c.cli import GenerateIntrospectionCTypesupport

PACKAGE = "tf2_msgs"
MESSAGES = ["TFMessage"]
DEPENDENCIES = ["geometry_msgs", "std_msgs", "builtin_interfaces"]
GENERATORS = [
    ("rosidl_generator_c", GenerateC, "c"),
    ("rosidl_typesupport_c", GenerateCTypesupport, "typesupport_c"),
    ("rosidl_typesupport_fastrtps_c", GenerateFastRTPSCTypesupport, "fastrtps_c"),
    ("rosidl_typesupport_introspection_c", GenerateIntrospectionCTypesupport, "introspection_c"),
]
# What each library links besides the package's own generator library.
LINKS = {
    "rosidl_generator_c": [f"{d}__rosidl_generator_c" for d in DEPENDENCIES] + ["rosidl_runtime_c", "rcutils"],
    "rosidl_typesupport_c": ["rosidl_typesupport_c", "rosidl_runtime_c", "rcutils"],
    "rosidl_typesupport_fastrtps_c": [f"{d}__rosidl_typesupport_fastrtps_c" for d in DEPENDENCIES]
    + [f"{d}__rosidl_generator_c" for d in DEPENDENCIES]
    + ["rosidl_typesupport_fastrtps_c", "rosidl_typesupport_fastrtps_cpp", "fastcdr", "rosidl_runtime_c", "rcutils"],
    "rosidl_typesupport_introspection_c": [f"{d}__rosidl_typesupport_introspection_c" for d in DEPENDENCIES]
    + ["rosidl_typesupport_introspection_c", "rosidl_runtime_c", "rcutils"],
}


def main(prefix, msg_dir):
    prefix, msg_dir = pathlib.Path(prefix), pathlib.Path(msg_dir)
    libraries = [prefix / "lib" / f"lib{PACKAGE}__{name}.so" for name, _, _ in GENERATORS]
    newest_source = max((msg_dir / "msg" / f"{m}.msg").stat().st_mtime for m in MESSAGES)
    if all(lib.exists() and lib.stat().st_mtime > newest_source for lib in libraries):
        return
    interface_files = [f"{msg_dir}:msg/{m}.msg" for m in MESSAGES]
    include_flags = [f"-I{prefix / 'include'}"] + [f"-I{d}" for d in sorted((prefix / "include").iterdir()) if d.is_dir()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        headers = tmp / "include" / PACKAGE
        sources = {}
        for name, generator, folder in GENERATORS:
            generated = [pathlib.Path(f) for f in generator(folder).generate(PACKAGE, interface_files, [str(prefix / "share")], tmp / folder)]
            sources[name] = [f for f in generated if f.suffix in (".c", ".cpp")]
            for header in (f for f in generated if f.suffix in (".h", ".hpp")):
                target = headers / header.relative_to(tmp / folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(header, target)
        build = tmp / "lib"
        build.mkdir()
        for name, _, _ in GENERATORS:
            cpp = any(s.suffix == ".cpp" for s in sources[name])
            own = [] if name == "rosidl_generator_c" else [f"-l{PACKAGE}__rosidl_generator_c"]
            command = (
                ["g++" if cpp else "gcc", "-shared", "-fPIC", "-O2", "-o", str(build / f"lib{PACKAGE}__{name}.so")]
                + [str(s) for s in sources[name]]
                + [f"-I{tmp / 'include'}"]
                + include_flags
                + [f"-L{build}", f"-L{prefix / 'lib'}"]
                + own
                + [f"-l{lib}" for lib in LINKS[name]]
            )
            subprocess.run(command, check=True)
        # Install: headers, libraries, interface files, ament index.
        include = prefix / "include" / PACKAGE / PACKAGE
        shutil.rmtree(include, ignore_errors=True)
        shutil.copytree(headers, include)
        share = prefix / "share" / PACKAGE
        (share / "msg").mkdir(parents=True, exist_ok=True)
        for m in MESSAGES:
            shutil.copy2(msg_dir / "msg" / f"{m}.msg", share / "msg" / f"{m}.msg")
            shutil.copy2(tmp / "c" / "tmp" / "msg" / f"{m}.idl", share / "msg" / f"{m}.idl")
            shutil.copy2(tmp / "c" / "msg" / f"{m}.json", share / "msg" / f"{m}.json")
        (share / "package.xml").write_text(
            f'<?xml version="1.0"?>\n<package format="3">\n  <name>{PACKAGE}</name>\n  <version>0.0.0</version>\n'
            "  <description>TFMessage, built by dreamrig's scripts/ros2_tf2_msgs.py</description>\n"
            "  <maintainer email=\"none@example.com\">dreamrig</maintainer>\n  <license>BSD</license>\n"
            "  <member_of_group>rosidl_interface_packages</member_of_group>\n</package>\n"
        )
        index = prefix / "share" / "ament_index" / "resource_index"
        (index / "packages").mkdir(parents=True, exist_ok=True)
        (index / "packages" / PACKAGE).write_text("")
        (index / "rosidl_interfaces").mkdir(parents=True, exist_ok=True)
        (index / "rosidl_interfaces" / PACKAGE).write_text("".join(f"msg/{m}.idl\nmsg/{m}.msg\n" for m in MESSAGES))
        # Libraries last: their presence marks the package as built.
        for lib in build.iterdir():
            shutil.copy2(lib, prefix / "lib" / lib.name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
