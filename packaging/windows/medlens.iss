; Inno Setup 6 script: wraps the PyInstaller one-folder build (dist\medlens) into MedLensSetup-<ver>.exe.
; Build on Windows:   .venv\Scripts\python packaging\prepare.py
;                     .venv\Scripts\pyinstaller --noconfirm packaging\medlens.spec
;                     "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" /DAppVersion=0.1.0 packaging\windows\medlens.iss
; Installs per user by default (no admin rights needed; "Install for all users" asks for them),
; adds Start-menu and optional desktop shortcuts, and "Open with MedLens" for .dcm, .nii, .nii.gz.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "MedLens"
#define BundleDir "..\..\dist\medlens"

[Setup]
AppId={{6B0C1D9E-4C55-4E4B-9E1A-3F5F2A9C7D10}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=MedLens developers
AppComments=Medical image viewer with local AI assist. Not for clinical use.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=MedLensSetup-{#AppVersion}
SetupIconFile=..\..\resources\medlens.ico
UninstallDisplayIcon={app}\MedLens.exe
Compression=lzma2/max
SolidCompression=yes
ChangesAssociations=yes
LicenseFile=license.txt
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"
Name: "assoc"; Description: "Open .dcm, .nii and .nii.gz files with MedLens"; GroupDescription: "File types:"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\MedLens.exe"
Name: "{group}\MedLens command line"; Filename: "{cmd}"; Parameters: "/k ""{app}\medlens-cli.exe"" --help"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\MedLens.exe"; Tasks: desktopicon

[Registry]
; ProgID + "Open with" entries (HKA = HKCU for a per-user install, HKLM for all users)
Root: HKA; Subkey: "Software\Classes\MedLens.Image"; ValueType: string; ValueData: "Medical image (MedLens)"; Flags: uninsdeletekey; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\MedLens.Image\DefaultIcon"; ValueType: string; ValueData: "{app}\MedLens.exe,0"; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\MedLens.Image\shell\open\command"; ValueType: string; ValueData: """{app}\MedLens.exe"" ""%1"""; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "MedLens.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.nii\OpenWithProgids"; ValueType: string; ValueName: "MedLens.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
; Windows sees only the last suffix of "x.nii.gz": register .gz as "open with" only, never as default
Root: HKA; Subkey: "Software\Classes\.gz\OpenWithProgids"; ValueType: string; ValueName: "MedLens.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc

[Run]
Filename: "{app}\MedLens.exe"; Description: "Start MedLens now"; Flags: nowait postinstall skipifsilent
