package dev.cryo.server.grpc;

import dev.cryo.api.v1.Accelerator;
import dev.cryo.api.v1.DiskConfig;
import dev.cryo.api.v1.DiskFormat;
import dev.cryo.api.v1.DomainConfig;
import dev.cryo.server.domain.DevicesDef;
import dev.cryo.server.domain.DiskDef;
import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.domain.OsDef;
import dev.cryo.server.error.InvalidArgumentException;
import java.util.UUID;

/**
 * The structured DomainConfig as a {@link DomainDef}. The result goes through the same XML
 * validation as a definition sent as XML, so both forms obey one set of rules.
 */
final class DomainConfigs {
  private DomainConfigs() {}

  static DomainDef toDef(DomainConfig config) {
    DomainDef def = new DomainDef();
    def.setType(config.getAccelerator() == Accelerator.ACCELERATOR_TCG ? "qemu" : "kvm");
    def.setName(config.getName());
    def.setUuid(config.getUuid().isEmpty() ? UUID.randomUUID().toString() : config.getUuid());
    if (!config.getDescription().isEmpty()) {
      def.setDescription(config.getDescription());
    }
    if (config.getMemoryBytes() == 0) {
      throw new InvalidArgumentException("DomainConfig.memory_bytes is required");
    }
    def.setMemoryBytes(config.getMemoryBytes());
    def.setVcpus(config.getVcpus() == 0 ? 1 : config.getVcpus());
    OsDef os = new OsDef();
    os.setOsType("hvm");
    os.setArch("x86_64");
    os.setMachine(config.getMachine().isEmpty() ? "pc" : config.getMachine());
    if (!config.getKernel().isEmpty()) {
      os.setKernel(config.getKernel());
    }
    if (!config.getInitrd().isEmpty()) {
      os.setInitrd(config.getInitrd());
    }
    if (!config.getCmdline().isEmpty()) {
      os.setCmdline(config.getCmdline());
    }
    def.setOs(os);
    DevicesDef devices = new DevicesDef();
    for (DiskConfig disk : config.getDisksList()) {
      if (disk.getFormat() == DiskFormat.DISK_FORMAT_UNSPECIFIED) {
        throw new InvalidArgumentException("disk " + disk.getTarget() + " needs a format "
            + "(DISK_FORMAT_RAW or DISK_FORMAT_QCOW2)");
      }
      DiskDef d = DiskDef.file(disk.getSource(),
          disk.getFormat() == DiskFormat.DISK_FORMAT_QCOW2 ? DiskDef.QCOW2 : DiskDef.RAW,
          disk.getTarget());
      d.setReadonly(disk.getReadOnly());
      devices.getDisks().add(d);
    }
    devices.getSerials().add(new DevicesDef.CharDevice("pty"));
    devices.getControllers().add(new DevicesDef.Controller("usb", "none"));
    devices.setMemballoon(new DevicesDef.Memballoon("none"));
    def.setDevices(devices);
    String xml = DomainXml.format(def);
    if (!config.getMetadataXml().isEmpty()) {
      // <metadata> follows <description>, or <uuid> when there is none (libvirt's order).
      String after = def.getDescription() != null ? "</description>" : "</uuid>";
      int at = xml.indexOf(after) + after.length();
      xml = xml.substring(0, at) + "<metadata>" + config.getMetadataXml() + "</metadata>"
          + xml.substring(at);
    }
    return DomainXml.parseDefinition(xml).def();
  }
}
